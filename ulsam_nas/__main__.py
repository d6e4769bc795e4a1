"""``python -m ulsam_nas`` (what ``torchrun -m ulsam_nas train ...`` runs)."""

from .cli import main

main()
