package towerajp;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;

/**
 * /slow?n=N&ms=M: text/plain without Content-Length; N times writes "line i\n"
 * (i = 0..N-1) and flushBuffer(), sleeping M ms between two lines.
 */
public class Slow extends Base {
    private static final long serialVersionUID = 1L;

    @Override
    protected void handle(HttpServletRequest req, HttpServletResponse resp, boolean head)
            throws IOException {
        long n = longParam(req, "n", 3);
        long ms = longParam(req, "ms", 100);
        resp.setContentType("text/plain");
        if (head) {
            return;
        }
        OutputStream out = resp.getOutputStream();
        for (long i = 0; i < n; i++) {
            if (i > 0 && ms > 0) {
                try {
                    Thread.sleep(ms);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
            out.write(("line " + i + "\n").getBytes());
            resp.flushBuffer();
        }
    }
}
