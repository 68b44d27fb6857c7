package towerajp;

import jakarta.servlet.http.Cookie;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * /echo and /echo/* (any method): describes the request, one "key=value" line
 * each (values escaped as in Base), text/plain, with Content-Length.
 *
 * Lines, in this order; a line whose Java value is null is left out:
 *   method= uri= query= protocol= scheme= secure=(true|false) server_name=
 *   server_port= local_addr= local_port= local_name= remote_addr= remote_port=
 *   remote_host= remote_user= auth_type= context_path= servlet_path= path_info=
 *   content_type= content_length=(getContentLengthLong, -1 if unknown)
 *   requested_session_id=
 *   header=NAME: VALUE   one per value, names in getHeaderNames() order, the
 *                        values of one name in getHeaders(name) order
 *   cookie=NAME=VALUE    one per getCookies() entry
 *   attr=NAME=VALUE      getAttributeNames(), then the TLS/AJP names below and
 *                        every ?attr=NAME query parameter if not null and not
 *                        yet printed (X509Certificate[] prints as
 *                        "x509[COUNT]:SUBJECT-OF-FIRST")
 *   body_len=N           bytes actually read from getInputStream()
 *   body_sha256=HEX      SHA-256 of those bytes, lower-case hex
 *   body_head=TEXT       the first (up to) 1024 body bytes, each byte as the
 *                        ISO-8859-1 char, escaped
 * The body is read fully in 64 KiB steps (streaming: 1 GiB uploads are fine).
 *
 * Note: Tomcat's getAttributeNames() does not list attributes set by the AJP
 * connector (req_attribute 0x0A, TLS fields): hence the well-known list and
 * ?attr=NAME.
 */
public class Echo extends Base {
    private static final long serialVersionUID = 1L;

    private static final String[] WELL_KNOWN_ATTRS = {
        "jakarta.servlet.request.cipher_suite",
        "jakarta.servlet.request.key_size",
        "jakarta.servlet.request.ssl_session_id",
        "jakarta.servlet.request.ssl_session",
        "jakarta.servlet.request.secure_protocol",
        "jakarta.servlet.request.X509Certificate",
        "org.apache.tomcat.util.net.secure_protocol_version",
        "AJP_LOCAL_ADDR",
        "AJP_REMOTE_PORT",
        "AJP_SSL_PROTOCOL",
        "JK_LB_ACTIVATION",
    };

    @Override
    protected void handle(HttpServletRequest req, HttpServletResponse resp, boolean head)
            throws IOException {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IOException(e);
        }
        long total = 0;
        byte[] headBytes = new byte[1024];
        int headLen = 0;
        byte[] buf = new byte[65536];
        try (InputStream in = req.getInputStream()) {
            int n;
            while ((n = in.read(buf)) != -1) {
                if (headLen < headBytes.length) {
                    int c = Math.min(n, headBytes.length - headLen);
                    System.arraycopy(buf, 0, headBytes, headLen, c);
                    headLen += c;
                }
                sha.update(buf, 0, n);
                total += n;
            }
        }

        StringBuilder b = new StringBuilder(2048);
        line(b, "method", req.getMethod());
        line(b, "uri", req.getRequestURI());
        line(b, "query", req.getQueryString());
        line(b, "protocol", req.getProtocol());
        line(b, "scheme", req.getScheme());
        line(b, "secure", String.valueOf(req.isSecure()));
        line(b, "server_name", req.getServerName());
        line(b, "server_port", String.valueOf(req.getServerPort()));
        line(b, "local_addr", req.getLocalAddr());
        line(b, "local_port", String.valueOf(req.getLocalPort()));
        line(b, "local_name", req.getLocalName());
        line(b, "remote_addr", req.getRemoteAddr());
        line(b, "remote_port", String.valueOf(req.getRemotePort()));
        line(b, "remote_host", req.getRemoteHost());
        line(b, "remote_user", req.getRemoteUser());
        line(b, "auth_type", req.getAuthType());
        line(b, "context_path", req.getContextPath());
        line(b, "servlet_path", req.getServletPath());
        line(b, "path_info", req.getPathInfo());
        line(b, "content_type", req.getContentType());
        line(b, "content_length", String.valueOf(req.getContentLengthLong()));
        line(b, "requested_session_id", req.getRequestedSessionId());
        for (String name : Collections.list(req.getHeaderNames())) {
            for (String value : Collections.list(req.getHeaders(name))) {
                line(b, "header", esc(name) + ": " + esc(value), false);
            }
        }
        Cookie[] cookies = req.getCookies();
        if (cookies != null) {
            for (Cookie c : cookies) {
                line(b, "cookie", esc(c.getName()) + "=" + esc(c.getValue()), false);
            }
        }
        Set<String> names = new LinkedHashSet<>(Collections.list(req.getAttributeNames()));
        names.addAll(Arrays.asList(WELL_KNOWN_ATTRS));
        names.addAll(params(req, "attr"));
        for (String name : names) {
            Object v = req.getAttribute(name);
            if (v != null) {
                line(b, "attr", esc(name) + "=" + esc(attrValue(v)), false);
            }
        }
        line(b, "body_len", String.valueOf(total));
        line(b, "body_sha256", hex(sha.digest()));
        line(b, "body_head", new String(headBytes, 0, headLen, StandardCharsets.ISO_8859_1));
        text(resp, head, b.toString());
    }

    private static String attrValue(Object v) {
        if (v instanceof X509Certificate[]) {
            X509Certificate[] certs = (X509Certificate[]) v;
            String first = certs.length > 0 ? certs[0].getSubjectX500Principal().getName() : "";
            return "x509[" + certs.length + "]:" + first;
        }
        if (v instanceof Object[]) {
            return Arrays.toString((Object[]) v);
        }
        return String.valueOf(v);
    }

    private static void line(StringBuilder b, String key, String value) {
        line(b, key, value, true);
    }

    private static void line(StringBuilder b, String key, String value, boolean escape) {
        if (value == null) {
            return;
        }
        b.append(key).append('=').append(escape ? esc(value) : value).append('\n');
    }

    private static String hex(byte[] d) {
        StringBuilder s = new StringBuilder(d.length * 2);
        for (byte x : d) {
            s.append(Character.forDigit((x >> 4) & 0xf, 16)).append(Character.forDigit(x & 0xf, 16));
        }
        return s.toString();
    }
}
