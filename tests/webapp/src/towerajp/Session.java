package towerajp;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpSession;
import java.io.IOException;

/**
 * /session: gets or creates the HttpSession; body "session=ID\nnew=true|false\n"
 * (ID ends in ".tc1", the Engine's jvmRoute).
 */
public class Session extends Base {
    private static final long serialVersionUID = 1L;

    @Override
    protected void handle(HttpServletRequest req, HttpServletResponse resp, boolean head)
            throws IOException {
        HttpSession s = req.getSession(true);
        text(resp, head, "session=" + esc(s.getId()) + "\nnew=" + s.isNew() + "\n");
    }
}
