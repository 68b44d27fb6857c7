package towerajp;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

/**
 * /headers?count=N[&len=L]: N response headers "X-Test-i: value-i" (i = 1..N;
 * with len=L each value is padded with 'x' to at least L chars), then
 * "X-Repeat: a" and "X-Repeat: b". Body "headers N\n".
 */
public class Headers extends Base {
    private static final long serialVersionUID = 1L;

    @Override
    protected void handle(HttpServletRequest req, HttpServletResponse resp, boolean head)
            throws IOException {
        long n = longParam(req, "count", 1);
        long len = longParam(req, "len", 0);
        for (long i = 1; i <= n; i++) {
            StringBuilder v = new StringBuilder("value-").append(i);
            while (v.length() < len) {
                v.append('x');
            }
            resp.setHeader("X-Test-" + i, v.toString());
        }
        resp.addHeader("X-Repeat", "a");
        resp.addHeader("X-Repeat", "b");
        text(resp, head, "headers " + n + "\n");
    }
}
