package towerajp;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

/** /hello: "Hello, AJP!\n" (12 bytes), Content-Type exactly "text/plain". */
public class Hello extends Base {
    private static final long serialVersionUID = 1L;

    @Override
    protected void handle(HttpServletRequest req, HttpServletResponse resp, boolean head)
            throws IOException {
        text(resp, head, "Hello, AJP!\n");
    }
}
