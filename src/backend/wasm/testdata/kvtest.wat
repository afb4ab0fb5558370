;; Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
;;
;; Test module for the WASM backend (assembled with wat2wasm at test time).
;; argv[1] picks the mode by its first letter:
;;   hello        print "args:" argv, "env:" environ, "stdin:" up to 4 KiB of
;;                stdin; exit 40 + argc
;;   read PATH    open PATH relative to the first preopen (fd 3) and print
;;                "read:" + contents (exit 0) or "open-errno:N" (exit 1)
;;   loop         spin forever
;;   count        100000 loop iterations, then exit 0
;;   memhog       grow memory 16 pages at a time until it fails; print
;;                "grown-pages:N" and exit 0
;;   trap         execute unreachable
;;   exit152      proc_exit(152)
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (global $sink (mut i32) (i32.const 0))
  ;; Layout: 0 iovec, 8 nwritten/nread, 16 argc, 20 argv size, 24 envc,
  ;; 28 environ size, 32 opened fd, 64..96 number buffer, 1024 argv pointers,
  ;; 2048 argv strings, 10240 environ pointers, 11264 environ strings,
  ;; 20480 io buffer (4 KiB), 30000 constant strings.
  (data (i32.const 30000) "args:")
  (data (i32.const 30008) "env:")
  (data (i32.const 30016) "stdin:")
  (data (i32.const 30024) "\n")
  (data (i32.const 30032) "read:")
  (data (i32.const 30040) "open-errno:")
  (data (i32.const 30056) "grown-pages:")

  (func $write (param $p i32) (param $n i32)
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (local.get $n))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))

  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $n))

  (func $nul_to_space (param $p i32) (param $n i32)
    (local $i i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $i))))
          (then (i32.store8 (i32.add (local.get $p) (local.get $i)) (i32.const 32))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l))))

  (func $print_num (param $v i32)
    (local $p i32)
    (local.set $p (i32.const 96))
    (loop $l
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $l (i32.ne (local.get $v) (i32.const 0))))
    (call $write (local.get $p) (i32.sub (i32.const 96) (local.get $p))))

  (func $hello (param $argc i32)
    (local $n i32)
    (call $write (i32.const 30000) (i32.const 5))
    (call $nul_to_space (i32.const 2048) (i32.load (i32.const 20)))
    (call $write (i32.const 2048) (i32.load (i32.const 20)))
    (call $write (i32.const 30024) (i32.const 1))
    (drop (call $environ_sizes_get (i32.const 24) (i32.const 28)))
    (if (i32.gt_u (i32.load (i32.const 28)) (i32.const 8192)) (then (call $proc_exit (i32.const 2))))
    (drop (call $environ_get (i32.const 10240) (i32.const 11264)))
    (call $write (i32.const 30008) (i32.const 4))
    (call $nul_to_space (i32.const 11264) (i32.load (i32.const 28)))
    (call $write (i32.const 11264) (i32.load (i32.const 28)))
    (call $write (i32.const 30024) (i32.const 1))
    (i32.store (i32.const 0) (i32.const 20480))
    (i32.store (i32.const 4) (i32.const 4096))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $n (i32.load (i32.const 8)))
    (call $write (i32.const 30016) (i32.const 6))
    (call $write (i32.const 20480) (local.get $n))
    (call $proc_exit (i32.add (i32.const 40) (local.get $argc))))

  (func $read (param $argc i32)
    (local $path i32) (local $err i32) (local $n i32)
    (if (i32.lt_u (local.get $argc) (i32.const 3)) (then (call $proc_exit (i32.const 2))))
    (local.set $path (i32.load (i32.const 1032)))
    (local.set $err (call $path_open (i32.const 3) (i32.const 1) (local.get $path)
                          (call $strlen (local.get $path)) (i32.const 0)
                          (i64.const 2) (i64.const 2) (i32.const 0) (i32.const 32)))
    (if (local.get $err)
      (then
        (call $write (i32.const 30040) (i32.const 11))
        (call $print_num (local.get $err))
        (call $write (i32.const 30024) (i32.const 1))
        (call $proc_exit (i32.const 1))))
    (i32.store (i32.const 0) (i32.const 20480))
    (i32.store (i32.const 4) (i32.const 4096))
    (drop (call $fd_read (i32.load (i32.const 32)) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $n (i32.load (i32.const 8)))
    (call $write (i32.const 30032) (i32.const 5))
    (call $write (i32.const 20480) (local.get $n))
    (call $proc_exit (i32.const 0)))

  (func $memhog
    (local $total i32)
    (block $done
      (loop $l
        (br_if $done (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
        (local.set $total (i32.add (local.get $total) (i32.const 16)))
        (br $l)))
    (call $write (i32.const 30056) (i32.const 12))
    (call $print_num (local.get $total))
    (call $write (i32.const 30024) (i32.const 1))
    (call $proc_exit (i32.const 0)))

  (func $count
    (local $i i32)
    (loop $l
      (global.set $sink (i32.add (global.get $sink) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100000))))
    (call $proc_exit (i32.const 0)))

  (func $spin
    (loop $l
      (global.set $sink (i32.add (global.get $sink) (i32.const 1)))
      (br $l)))

  (func (export "_start")
    (local $argc i32) (local $mode i32)
    (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (local.set $argc (i32.load (i32.const 16)))
    (if (i32.or (i32.gt_u (local.get $argc) (i32.const 256))
                (i32.gt_u (i32.load (i32.const 20)) (i32.const 8192)))
      (then (call $proc_exit (i32.const 2))))
    (drop (call $args_get (i32.const 1024) (i32.const 2048)))
    (if (i32.ge_u (local.get $argc) (i32.const 2))
      (then (local.set $mode (i32.load8_u (i32.load (i32.const 1028))))))
    (if (i32.eq (local.get $mode) (i32.const 104)) (then (call $hello (local.get $argc))))   ;; h
    (if (i32.eq (local.get $mode) (i32.const 114)) (then (call $read (local.get $argc))))    ;; r
    (if (i32.eq (local.get $mode) (i32.const 108)) (then (call $spin)))                      ;; l
    (if (i32.eq (local.get $mode) (i32.const 99)) (then (call $count)))                      ;; c
    (if (i32.eq (local.get $mode) (i32.const 109)) (then (call $memhog)))                    ;; m
    (if (i32.eq (local.get $mode) (i32.const 116)) (then unreachable))                       ;; t
    (if (i32.eq (local.get $mode) (i32.const 101)) (then (call $proc_exit (i32.const 152)))) ;; e
    (call $proc_exit (i32.const 99)))
)
