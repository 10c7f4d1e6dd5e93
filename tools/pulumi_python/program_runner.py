"""Runs a Pulumi Python program for the language host (upstream calls this the "exec" script).

Arguments are the ones the language host builds from the engine's RunRequest; configuration arrives
in PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS, which the SDK reads itself.
"""

import argparse
import asyncio
import logging
import os
import runpy
import sys
import traceback

# Exit code the language host maps to "the program already told the user what went wrong".
EXIT_REPORTED = 32


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Run a Pulumi Python program")
    for flag in ("project", "root_directory", "stack", "parallel", "dry_run", "pwd",
                 "monitor", "engine", "tracing", "organization"):
        ap.add_argument(f"--{flag}")
    ap.add_argument("program")
    ap.add_argument("args", nargs="*")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        import pulumi
        import pulumi.runtime
    except ImportError:
        print(traceback.format_exc(), file=sys.stderr)
        print("The Pulumi SDK is not installed in this interpreter: run `make bootstrap`.",
              file=sys.stderr)
        return EXIT_REPORTED

    import sdk_speedups  # next to this script, which Python puts first on sys.path

    sdk_speedups.install()
    pulumi.runtime.set_all_config(pulumi.runtime.get_config_env(),
                                  pulumi.runtime.get_config_secret_keys_env())
    parallel = int(args.parallel) if args.parallel else None
    pulumi.runtime.configure(pulumi.runtime.Settings(
        project=args.project, stack=args.stack, monitor=args.monitor, engine=args.engine,
        parallel=parallel, dry_run=args.dry_run == "true",
        organization=args.organization, root_directory=args.root_directory))

    if args.pwd:
        os.chdir(args.pwd)
    program = os.path.abspath(args.program)
    # Let `__main__.py` import the project's own packages (components/, stacks/ …).
    sys.path.insert(0, program if os.path.isdir(program) else os.path.dirname(program))
    sys.argv = [args.program, *args.args]

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # Unresolved outputs at exit are expected after a failure; asyncio's complaints are noise.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    try:
        loop.run_until_complete(pulumi.runtime.run_in_stack(
            lambda: runpy.run_path(program, run_name="__main__")))
        return 0
    except pulumi.RunError as err:
        pulumi.log.error(str(err))
        return EXIT_REPORTED
    except Exception:  # noqa: BLE001 - any program failure is reported to the user
        pulumi.log.error("Program failed with an unhandled exception:\n" + traceback.format_exc())
        return EXIT_REPORTED
    finally:
        sdk_speedups.flush()
        sys.stdout.flush()
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
