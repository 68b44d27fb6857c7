package towerajp;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

/** /noheaders: writes nothing and sets nothing (Tomcat bug 66591 case). */
public class NoHeaders extends Base {
    private static final long serialVersionUID = 1L;

    @Override
    protected void handle(HttpServletRequest req, HttpServletResponse resp, boolean head) {
    }
}
