"""The project's `pulumi-language-python`: the language host the Pulumi engine starts to run Python code.

The upstream host is a Go binary shipped beside the CLI; it is not published as a Go module, so this package
implements the same gRPC contract (`pulumirpc.LanguageRuntime`, sdk/proto/language.proto) in Python, on top of
the stubs the `pulumi` SDK already carries. `toolchain/bin/pulumi-language-python` starts it.

One concept per module:

- `arguments`: the command line the engine passes (Go-style flags, the engine address last).
- `options`: the `runtime.options` of Pulumi.yaml / PulumiPolicy.yaml, typed.
- `virtualenv`: the Python a program runs with (its virtualenv, or the ambient one) and pip on top of it.
- `packages`, `versions`: the Pulumi packages (provider plugins) a program's environment declares.
- `program`: `Run`, the command line and environment of one program run.
- `exec_program`: the script that runs inside the program's own Python (upstream's pulumi-language-python-exec).
- `plugin`, `policy_proxy`: `RunPlugin`, for provider plugins and CrossGuard policy packs.
- `streams`: a child process's output as a stream of gRPC responses.
- `engine`: talking back to the engine (log messages, the liveness check).
- `server`: the `LanguageRuntime` servicer that ties these together; `__main__`: start, print the port, stop.
"""
