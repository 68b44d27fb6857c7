package towerajp;

import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

/** /throw: throws a ServletException, so Tomcat answers its own 500 page. */
public class Throw extends Base {
    private static final long serialVersionUID = 1L;

    @Override
    protected void handle(HttpServletRequest req, HttpServletResponse resp, boolean head)
            throws ServletException {
        throw new ServletException("tower-ajp test exception");
    }
}
