package towerajp;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * /discard (any method): reads the body in 64 KiB steps, counts it and answers
 * {"body_len": N} (application/json). Nothing is hashed: this is the upload
 * benchmark's backend, which should cost as little as possible so that the
 * proxy is what is measured. The demo app's /discard answers the same.
 */
public class Discard extends Base {
    private static final long serialVersionUID = 1L;

    @Override
    protected void handle(HttpServletRequest req, HttpServletResponse resp, boolean head)
            throws IOException {
        long total = 0;
        byte[] buf = new byte[65536];
        try (InputStream in = req.getInputStream()) {
            int n;
            while ((n = in.read(buf)) != -1) {
                total += n;
            }
        }
        byte[] b = ("{\"body_len\": " + total + "}\n").getBytes(StandardCharsets.US_ASCII);
        resp.setContentType("application/json");
        resp.setContentLength(b.length);
        if (!head) {
            resp.getOutputStream().write(b);
        }
    }
}
