package towerajp;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

/**
 * /status?code=N or /status/N: answers status N. No body for 204 and 304
 * unless body=1 (then the body is written anyway and the container must
 * swallow it); otherwise the text/plain body "status N\n".
 */
public class Status extends Base {
    private static final long serialVersionUID = 1L;

    @Override
    protected void handle(HttpServletRequest req, HttpServletResponse resp, boolean head)
            throws IOException {
        String code = param(req, "code");
        if (code == null && req.getPathInfo() != null) {
            code = req.getPathInfo().substring(1);
        }
        int status = code == null ? 200 : Integer.parseInt(code.trim());
        resp.setStatus(status);
        boolean forceBody = "1".equals(param(req, "body"));
        if ((status == 204 || status == 304) && !forceBody) {
            return;
        }
        if (forceBody && !head) {
            // Written without Content-Length on purpose: the container must drop it.
            resp.setContentType("text/plain");
            resp.getOutputStream().write(("status " + status + " body that must be swallowed\n").getBytes());
            return;
        }
        text(resp, head, "status " + status + "\n");
    }
}
