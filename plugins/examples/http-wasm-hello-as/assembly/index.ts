// An http-wasm handler written in AssemblyScript, without the ksplugins SDK:
// it uses only the host functions of the http-wasm interface
// (https://http-wasm.io/http-handler-abi/).
//
//   GET  /hello?name=N  "hello, N" as text/plain
//   GET  /headers       the request's header names, one a line
//   POST /reverse       the request body, reversed
//   GET  /config        the plugin's configuration, as the host gives it
//   GET  /next          asks for the next handler; handle_response answers
//   anything else       404

@external("http_handler", "get_method")
declare function get_method(buf: usize, limit: u32): u32;
@external("http_handler", "get_uri")
declare function get_uri(buf: usize, limit: u32): u32;
@external("http_handler", "get_config")
declare function get_config(buf: usize, limit: u32): u32;
@external("http_handler", "get_header_names")
declare function get_header_names(kind: u32, buf: usize, limit: u32): u64;
@external("http_handler", "set_header_value")
declare function set_header_value(kind: u32, name: usize, nameLen: u32, value: usize, valueLen: u32): void;
@external("http_handler", "read_body")
declare function read_body(kind: u32, buf: usize, limit: u32): u64;
@external("http_handler", "write_body")
declare function write_body(kind: u32, buf: usize, len: u32): void;
@external("http_handler", "set_status_code")
declare function set_status_code(code: u32): void;
@external("http_handler", "log")
declare function log(level: i32, msg: usize, len: u32): void;

const REQUEST: u32 = 0;
const RESPONSE: u32 = 1;

// readString calls a getter twice: once for the length, once to copy.
function readString(get: (buf: usize, limit: u32) => u32): string {
  const n = get(0, 0);
  if (n == 0) return "";
  const buf = new ArrayBuffer(n);
  get(changetype<usize>(buf), n);
  return String.UTF8.decode(buf);
}

function setHeader(name: string, value: string): void {
  const n = String.UTF8.encode(name);
  const v = String.UTF8.encode(value);
  set_header_value(RESPONSE, changetype<usize>(n), n.byteLength, changetype<usize>(v), v.byteLength);
}

function write(s: string): void {
  const b = String.UTF8.encode(s);
  write_body(RESPONSE, changetype<usize>(b), b.byteLength);
}

function readBody(): Uint8Array {
  let out = new Uint8Array(0);
  const chunk = new Uint8Array(1024);
  while (true) {
    const eofLen = read_body(REQUEST, chunk.dataStart, chunk.length);
    const n = <i32>(eofLen & 0xffffffff);
    if (n > 0) {
      const next = new Uint8Array(out.length + n);
      next.set(out);
      next.set(chunk.subarray(0, n), out.length);
      out = next;
    }
    if ((eofLen >> 32) != 0) return out;
  }
}

function query(uri: string, key: string): string {
  const q = uri.indexOf("?");
  if (q < 0) return "";
  const pairs = uri.substring(q + 1).split("&");
  for (let i = 0; i < pairs.length; i++) {
    const kv = pairs[i].split("=");
    if (kv.length == 2 && kv[0] == key) return kv[1];
  }
  return "";
}

export function handle_request(): u64 {
  const method = readString(get_method);
  const uri = readString(get_uri);
  const path = uri.indexOf("?") < 0 ? uri : uri.substring(0, uri.indexOf("?"));
  setHeader("X-Guest", "assemblyscript");
  if (method == "GET" && path == "/hello") {
    let name = query(uri, "name");
    if (name.length == 0) name = "world";
    setHeader("Content-Type", "text/plain");
    write("hello, " + name);
    return 0;
  }
  if (method == "GET" && path == "/headers") {
    const countLen = get_header_names(REQUEST, 0, 0);
    const n = <u32>(countLen & 0xffffffff);
    const buf = new ArrayBuffer(n);
    get_header_names(REQUEST, changetype<usize>(buf), n);
    // NUL-terminated names, one a line.
    const names = String.UTF8.decode(buf).split("\0");
    write(names.join("\n"));
    return 0;
  }
  if (method == "POST" && path == "/reverse") {
    const body = readBody();
    const out = new Uint8Array(body.length);
    for (let i = 0; i < body.length; i++) out[i] = body[body.length - 1 - i];
    set_status_code(201);
    write_body(RESPONSE, out.dataStart, out.length);
    return 0;
  }
  if (method == "GET" && path == "/config") {
    setHeader("Content-Type", "application/json");
    write(readString(get_config));
    return 0;
  }
  if (method == "GET" && path == "/next") {
    const msg = String.UTF8.encode("passing to the next handler");
    log(0, changetype<usize>(msg), msg.byteLength);
    return (<u64>7 << 32) | 1;
  }
  set_status_code(404);
  write("no route for " + method + " " + path);
  return 0;
}

// handle_response runs after handle_request asked for the next handler;
// reqCtx is what it returned in the upper 32 bits.
export function handle_response(reqCtx: u32, isError: u32): void {
  set_status_code(202);
  write("after next, ctx " + reqCtx.toString());
}
