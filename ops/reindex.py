"""``python -m ops.reindex``: write the list row of every stored transfer, once, after an upgrade.

Transfers stored before the list index existed are not in the list until a change relists them
(the ones in flight are also relisted by the timer's next scan); this writes them all now. It reads
every transfer's header, so it is an operator's one-off, never a request's; running it again changes
nothing. Storage comes from ``AzureWebJobsStorage`` as in the app (a connection string, or the
service URIs and a managed identity).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from shared.settings import Settings
from shared.store.repository import TransferStore


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0].strip("`: "))
    parser.parse_args(argv)
    written = TransferStore.connect(Settings(os.environ).storage).reindex()
    print(f"{written} transfer(s) listed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
