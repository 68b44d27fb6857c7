package towerajp;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

/** /sleep?ms=M: sleeps M ms before sending anything, then "slept M\n". */
public class Sleep extends Base {
    private static final long serialVersionUID = 1L;

    @Override
    protected void handle(HttpServletRequest req, HttpServletResponse resp, boolean head)
            throws IOException {
        long ms = longParam(req, "ms", 1000);
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        text(resp, head, "slept " + ms + "\n");
    }
}
