package towerajp;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;

/**
 * /download?bytes=N[&chunked=1]: N bytes, byte i = 'a' + i % 26,
 * application/octet-stream, with Content-Length N unless chunked=1. Streamed
 * from one reusable buffer (N = 1 GiB is fine).
 */
public class Download extends Base {
    private static final long serialVersionUID = 1L;

    /** 26 * 2520: a whole number of alphabets, so every chunk starts at 'a'. */
    private static final byte[] PATTERN = new byte[26 * 2520];

    static {
        for (int i = 0; i < PATTERN.length; i++) {
            PATTERN[i] = (byte) ('a' + i % 26);
        }
    }

    @Override
    protected void handle(HttpServletRequest req, HttpServletResponse resp, boolean head)
            throws IOException {
        long n = longParam(req, "bytes", 0);
        boolean chunked = "1".equals(param(req, "chunked"));
        resp.setContentType("application/octet-stream");
        if (!chunked) {
            resp.setContentLengthLong(n);
        }
        if (head) {
            return;
        }
        OutputStream out = resp.getOutputStream();
        long left = n;
        while (left > 0) {
            int c = (int) Math.min(left, PATTERN.length);
            out.write(PATTERN, 0, c);
            left -= c;
        }
    }
}
