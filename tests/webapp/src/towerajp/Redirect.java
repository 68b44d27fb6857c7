package towerajp;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

/** /redirect[?to=PATH]: 302 via sendRedirect(to, default "/hello"). */
public class Redirect extends Base {
    private static final long serialVersionUID = 1L;

    @Override
    protected void handle(HttpServletRequest req, HttpServletResponse resp, boolean head)
            throws IOException {
        String to = param(req, "to");
        resp.sendRedirect(to == null ? "/hello" : to);
    }
}
