"""python-tuf 7 client used as the interop oracle: refresh, then download one target.
usage: client.py METADATA_DIR BASE_URL TARGET OUT_DIR [BOOTSTRAP_ROOT]"""
import os
import sys

from tuf.ngclient import Updater

mdir, base, name, outdir = sys.argv[1:5]
bootstrap = open(sys.argv[5], "rb").read() if len(sys.argv) > 5 else None
os.makedirs(mdir, exist_ok=True)
os.makedirs(outdir, exist_ok=True)
try:
    u = Updater(mdir, base + "/metadata/", outdir, base + "/targets/", bootstrap=bootstrap)
    u.refresh()
    info = u.get_targetinfo(name)
    if info is None:
        print("ERROR TargetNotFound")
        sys.exit(3)
    path = u.download_target(info)
    print("OK", info.length, path)
except Exception as e:  # noqa: BLE001 - report any rejection to the test
    print("ERROR", type(e).__name__, e)
    sys.exit(2)
