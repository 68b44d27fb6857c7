package towerajp;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

/**
 * /badheader: "X-Good: ok", "X-Bad: <EURO SIGN, not Latin-1>" (Tomcat drops it,
 * bug 66512), "X-Also-Good: yes"; body "badheader\n".
 */
public class BadHeader extends Base {
    private static final long serialVersionUID = 1L;

    @Override
    protected void handle(HttpServletRequest req, HttpServletResponse resp, boolean head)
            throws IOException {
        resp.setHeader("X-Good", "ok");
        resp.setHeader("X-Bad", new String(Character.toChars(0x20ac)));
        resp.setHeader("X-Also-Good", "yes");
        text(resp, head, "badheader\n");
    }
}
