;; An http-wasm handler in WebAssembly text, without the ksplugins SDK: it
;; uses only the host functions of the http-wasm interface
;; (https://http-wasm.io/http-handler-abi/).
;;
;;   /spin      loops forever, for the host's time limit to stop
;;   /grow      grows its memory until the host's limit refuses, then traps
;;   otherwise  echoes: status 201 for POST, 200 otherwise; the response
;;              header X-Echo is the request's first X-Echo value; the body
;;              is "wat <method> <uri>\n" followed by the request body.
(module
  (import "http_handler" "get_method" (func $get_method (param i32 i32) (result i32)))
  (import "http_handler" "get_uri" (func $get_uri (param i32 i32) (result i32)))
  (import "http_handler" "get_header_values"
    (func $get_header_values (param i32 i32 i32 i32 i32) (result i64)))
  (import "http_handler" "set_header_value" (func $set_header_value (param i32 i32 i32 i32 i32)))
  (import "http_handler" "read_body" (func $read_body (param i32 i32 i32) (result i64)))
  (import "http_handler" "write_body" (func $write_body (param i32 i32 i32)))
  (import "http_handler" "set_status_code" (func $set_status_code (param i32)))

  (memory (export "memory") 1)

  ;; Constants at 0..63; scratch from 1024 (method), 2048 (uri),
  ;; 4096 (header value), 8192 (body chunks).
  (data (i32.const 0) "x-echo")   ;; 6 bytes
  (data (i32.const 8) "wat ")     ;; 4 bytes
  (data (i32.const 16) "/spin")   ;; 5 bytes
  (data (i32.const 24) "/grow")   ;; 5 bytes
  (data (i32.const 32) "POST")    ;; 4 bytes
  (data (i32.const 40) " \n")     ;; space at 40, newline at 41

  ;; $is reports whether the n bytes at a equal the n bytes at b.
  (func $is (param $a i32) (param $b i32) (param $n i32) (result i32)
    (block $differ
      (loop $next
        (if (i32.eqz (local.get $n)) (then (return (i32.const 1))))
        (br_if $differ (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b))))
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  (func (export "handle_request") (result i64)
    (local $method_len i32) (local $uri_len i32) (local $values i64) (local $eof_len i64)
    (local.set $method_len (call $get_method (i32.const 1024) (i32.const 1024)))
    (local.set $uri_len (call $get_uri (i32.const 2048) (i32.const 2048)))

    ;; /spin: never returns.
    (if (i32.and (i32.ge_u (local.get $uri_len) (i32.const 5))
                 (call $is (i32.const 2048) (i32.const 16) (i32.const 5)))
      (then (loop $forever (br $forever))))

    ;; /grow: takes pages until refused, then traps.
    (if (i32.and (i32.ge_u (local.get $uri_len) (i32.const 5))
                 (call $is (i32.const 2048) (i32.const 24) (i32.const 5)))
      (then
        (loop $more
          (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
        (unreachable)))

    (if (i32.and (i32.eq (local.get $method_len) (i32.const 4))
                 (call $is (i32.const 1024) (i32.const 32) (i32.const 4)))
      (then (call $set_status_code (i32.const 201))))

    ;; X-Echo: the first value, without its NUL terminator.
    (local.set $values (call $get_header_values (i32.const 0) (i32.const 0) (i32.const 6)
      (i32.const 4096) (i32.const 4096)))
    (if (i64.ne (local.get $values) (i64.const 0))
      (then
        (call $set_header_value (i32.const 1) (i32.const 0) (i32.const 6) (i32.const 4096)
          (call $strlen (i32.const 4096)))))

    (call $write_body (i32.const 1) (i32.const 8) (i32.const 4))
    (call $write_body (i32.const 1) (i32.const 1024) (local.get $method_len))
    (call $write_body (i32.const 1) (i32.const 40) (i32.const 1))
    (call $write_body (i32.const 1) (i32.const 2048) (local.get $uri_len))
    (call $write_body (i32.const 1) (i32.const 41) (i32.const 1))

    ;; The request body, a chunk at a time, until EOF.
    (block $done
      (loop $read
        (local.set $eof_len (call $read_body (i32.const 0) (i32.const 8192) (i32.const 4096)))
        (call $write_body (i32.const 1) (i32.const 8192) (i32.wrap_i64 (local.get $eof_len)))
        (br_if $done (i64.ne (i64.shr_u (local.get $eof_len) (i64.const 32)) (i64.const 0)))
        (br $read)))
    (i64.const 0))

  ;; $strlen is the length of the NUL-terminated string at p.
  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $end
      (loop $next
        (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  (func (export "handle_response") (param $ctx i32) (param $is_error i32))
)
