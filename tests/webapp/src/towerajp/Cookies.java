package towerajp;

import jakarta.servlet.http.Cookie;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

/** /cookies?n=N: N Set-Cookie headers c1=v1 ... cN=vN, body "cookies N\n". */
public class Cookies extends Base {
    private static final long serialVersionUID = 1L;

    @Override
    protected void handle(HttpServletRequest req, HttpServletResponse resp, boolean head)
            throws IOException {
        long n = longParam(req, "n", 1);
        for (long i = 1; i <= n; i++) {
            resp.addCookie(new Cookie("c" + i, "v" + i));
        }
        text(resp, head, "cookies " + n + "\n");
    }
}
