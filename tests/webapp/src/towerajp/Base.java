package towerajp;

import jakarta.servlet.ServletException;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;

/**
 * Common base of the tower-ajp test servlets.
 *
 * Every servlet answers every method (GET, POST, PATCH, BREW, ...): service() is
 * overridden and calls handle(). For HEAD, handle() gets head=true and must set
 * the headers only (body() then returns a stream that discards writes).
 *
 * Query parameters are parsed from getQueryString() by hand, never with
 * getParameter(), so a form-encoded request body is never consumed behind the
 * test's back.
 *
 * Text output escaping (see esc()): printable ASCII 0x20..0x7e is written as is,
 * except backslash which becomes two backslashes; every other code point is
 * written as \\u{HEX} (lower-case hex, e.g. "\\u{a}" for LF, "\\u{e9}" for
 * e-acute). The output is therefore pure ASCII, one logical value per line.
 */
public abstract class Base extends HttpServlet {
    private static final long serialVersionUID = 1L;

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp)
            throws ServletException, IOException {
        handle(req, resp, "HEAD".equals(req.getMethod()));
    }

    /** Handles one request; head=true means headers only. */
    protected abstract void handle(HttpServletRequest req, HttpServletResponse resp, boolean head)
            throws ServletException, IOException;

    /** The response body stream, or a discarding stream for HEAD. */
    protected static OutputStream body(HttpServletResponse resp, boolean head) throws IOException {
        if (head) {
            return OutputStream.nullOutputStream();
        }
        return resp.getOutputStream();
    }

    /** Sends a short ASCII text/plain body with a Content-Length. */
    protected static void text(HttpServletResponse resp, boolean head, String s) throws IOException {
        byte[] b = s.getBytes(StandardCharsets.ISO_8859_1);
        resp.setContentType("text/plain");
        resp.setContentLength(b.length);
        if (!head) {
            ServletOutputStream out = resp.getOutputStream();
            out.write(b);
        }
    }

    /** First value of query parameter name (URL-decoded as UTF-8), or null. */
    protected static String param(HttpServletRequest req, String name) {
        String q = req.getQueryString();
        if (q == null) {
            return null;
        }
        for (String part : q.split("&")) {
            int eq = part.indexOf('=');
            String k = eq < 0 ? part : part.substring(0, eq);
            String v = eq < 0 ? "" : part.substring(eq + 1);
            if (decode(k).equals(name)) {
                return decode(v);
            }
        }
        return null;
    }

    /** All values of query parameter name, in order. */
    protected static java.util.List<String> params(HttpServletRequest req, String name) {
        java.util.List<String> out = new java.util.ArrayList<>();
        String q = req.getQueryString();
        if (q == null) {
            return out;
        }
        for (String part : q.split("&")) {
            int eq = part.indexOf('=');
            String k = eq < 0 ? part : part.substring(0, eq);
            String v = eq < 0 ? "" : part.substring(eq + 1);
            if (decode(k).equals(name)) {
                out.add(decode(v));
            }
        }
        return out;
    }

    protected static long longParam(HttpServletRequest req, String name, long dflt) {
        String v = param(req, name);
        if (v == null || v.isEmpty()) {
            return dflt;
        }
        return Long.parseLong(v.trim());
    }

    private static String decode(String s) {
        try {
            return URLDecoder.decode(s, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return s;
        }
    }

    /** Escapes s as documented in the class comment; null stays null. */
    protected static String esc(String s) {
        if (s == null) {
            return null;
        }
        StringBuilder b = new StringBuilder(s.length() + 8);
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == '\\') {
                b.append("\\\\");
            } else if (cp >= 0x20 && cp < 0x7f) {
                b.appendCodePoint(cp);
            } else {
                b.append("\\u{").append(Integer.toHexString(cp)).append('}');
            }
        }
        return b.toString();
    }
}
