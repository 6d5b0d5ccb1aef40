/*
 * test_smuggling_served.c - request smuggling (issue 10) end to end: the
 * isolde binary serving a real worker. A chunked POST whose chunk data is
 * not followed by CRLF, with `GET /SMUGGLED` pipelined behind it, must get
 * a 400 and a close, and the worker must never see the smuggled request:
 * the worker keeps the paths it was asked for and tells them on /seen, and
 * the request log must not name /SMUGGLED either. (tests/http/
 * test_smuggling.c covers each malformed framing against the server
 * alone.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_client.h"
#include "runtime/server_proc.h"
#include "test.h"

/* Reads each request's body before answering (so a malformed body is found
 * before any response starts) and remembers every path but /seen. */
static const char seen_worker[] =
    "const seen = [];\n"
    "export default {\n"
    "  async fetch(request) {\n"
    "    const path = new URL(request.url).pathname;\n"
    "    if (path === '/seen') return new Response(seen.join(','));\n"
    "    seen.push(path);\n"
    "    const body = await request.arrayBuffer();\n"
    "    return new Response(`${request.method} ${path} ${body.byteLength}`);\n"
    "  },\n"
    "};\n";

TEST(serve_smuggled_request_never_reaches_a_worker) {
  test_server_t s = {0};
  const char *written = test_server_write(&s, "seen.js", seen_worker);
  CHECK(written != NULL);
  char path[512];
  snprintf(path, sizeof(path), "%s", written);
  const char *args[] = {"dev", path, "--port", "0", "--threads", "1", NULL};
  CHECK(test_server_start(&s, args) == 0);

  test_http_conn_t c;
  test_http_resp_t r = {0};
  CHECK(test_http_conn_open(&c, s.port) == 0);
  /* "XX" where the CRLF after the chunk's data belongs */
  CHECK(test_http_conn_send_str(&c,
                                "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "5\r\nhelloXX0\r\n\r\n"
                                "GET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  int rc = test_http_conn_read(&c, &r, 0, TEST_HTTP_TIMEOUT_MS);
  int status = r.status;
  const char *conn = test_http_resp_header(&r, "Connection");
  int closes = conn && strcmp(conn, "close") == 0;
  test_http_resp_free(&r);
  int closed = rc == 0 && test_http_conn_wait_close(&c, TEST_HTTP_TIMEOUT_MS);
  test_http_conn_close(&c);
  CHECK_MSG(rc == 0 && status == 400, "want 400, got %d (read %d)", status, rc);
  CHECK(closes);
  CHECK_MSG(closed, "the connection stayed open after the 400");

  /* The worker saw the POST (handed over before its body went wrong) and
   * nothing else. */
  CHECK(test_http_request(s.port, "GET /seen HTTP/1.1\r\nHost: x\r\n\r\n", &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_MSG(strstr(r.body, "SMUGGLED") == NULL, "the worker saw: %s", r.body);
  test_http_resp_free(&r);
  /* and it still answers */
  CHECK(test_http_request(s.port, "POST /after HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", &r) == 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_STR(r.body, "POST /after 3");
  test_http_resp_free(&r);
  char *out = test_server_output(&s);
  int logged = out && strstr(out, "path=/SMUGGLED") != NULL;
  free(out);
  CHECK_MSG(!logged, "the request log names /SMUGGLED");
  CHECK_EQ_INT(test_server_stop(&s), 0);
}
