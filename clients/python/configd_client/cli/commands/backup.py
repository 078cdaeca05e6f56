"""`configctl backup FILE`: download a consistent online backup of the server's database."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import click
import grpc

from configd_client.cli import output
from configd_client.cli.context import settings
from configd_client.cli.exits import CliFailure, ExitCode, failure_from
from configd_client.cli.session import Settings, admin_channel, translate
from configd_client.errors import ConfigdError
from configd_client.wire import admin_pb2, admin_pb2_grpc


async def _download(current: Settings, partial: Path) -> tuple[int, int]:
    """Stream the backup into `partial`; returns (revision, bytes) once size and hash match."""
    digest = hashlib.sha256()
    size = 0
    revision, total, expected = 0, -1, ""
    async with admin_channel(current) as channel:
        call = admin_pb2_grpc.AdminServiceStub(channel).Backup(admin_pb2.BackupRequest())
        try:
            with partial.open("wb") as file:
                async for chunk in call:
                    file.write(chunk.data)
                    digest.update(chunk.data)
                    size += len(chunk.data)
                    revision, total, expected = chunk.revision, chunk.total_bytes, chunk.sha256
                file.flush()
                os.fsync(file.fileno())
        except grpc.RpcError as exc:
            raise translate(exc) from exc
    if size != total or digest.hexdigest() != expected:
        raise CliFailure(
            f"the backup arrived damaged ({size} of {total} bytes, checksum "
            f"{'matches' if digest.hexdigest() == expected else 'differs'}); try again",
            code=ExitCode.SERVER,
        )
    return revision, size


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
def backup(file: Path, force: bool) -> None:
    """Save a consistent snapshot of the server's database into FILE, while writes go on.

    FILE is a SQLite database; restore it with `configd restore FILE --data-dir DIR`
    (with the server stopped). FILE appears only when complete and verified.

    \b
    Examples:
      configctl backup configd-$(date +%F).db
    """
    if file.exists() and not force:
        raise CliFailure(f"{file} exists; pass --force to replace it", code=ExitCode.USAGE)
    current = settings()
    partial = file.with_name(file.name + ".partial")
    try:
        revision, size = asyncio.run(_download(current, partial))
        partial.replace(file)
    except ConfigdError as error:
        raise failure_from(error, addr=current.connect.addr) from error
    except OSError as exc:
        raise CliFailure(f"cannot write {file}: {exc.strerror}", code=ExitCode.USAGE) from exc
    finally:
        partial.unlink(missing_ok=True)
    output.note(f"backed up revision {revision} ({size} bytes) to {file}")


COMMANDS = (backup,)
