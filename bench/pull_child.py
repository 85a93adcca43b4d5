"""One pull in a process of its own, so that its peak memory can be measured: prints `<seconds> <stored>`."""

import sys

import django

if __name__ == "__main__":
    django.setup()
    from bench.__main__ import portal_pull

    seconds, stored = portal_pull(sys.argv[1], "memory")
    sys.stdout.write(f"{seconds:.3f} {stored}\n")
