"""Builds a python-tuf 7 repository and attack variants of it, each a complete served tree.
usage: mkrepo.py OUT_DIR
OUT/good: root v1 (3 Ed25519 keys, threshold 2), targets v1 (Ed25519 + ECDSA keys, threshold 2),
snapshot v1, timestamp v5; consistent snapshots; target fw.bin.
Variants (apply after a client has trusted `good`): rollback (timestamp v2), freeze (expired
timestamp v6), mixmatch (timestamp v6 names snapshot v2 whose file says version 1),
threshold (targets v2 signed by 1 of 2 keys), oversized (fw.bin one byte longer)."""
import os
import shutil
import sys
from datetime import datetime, timedelta, timezone

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

out = sys.argv[1]
now = datetime.now(timezone.utc).replace(microsecond=0)
future = now + timedelta(days=30)
ser = JSONSerializer(compact=False)

root_signers = [CryptoSigner.generate_ed25519() for _ in range(3)]
targets_signers = [CryptoSigner.generate_ed25519(), CryptoSigner.generate_ecdsa()]
snap_signer = CryptoSigner.generate_ed25519()
ts_signer = CryptoSigner.generate_ed25519()

root = Metadata(Root(expires=future, consistent_snapshot=True))
for s in root_signers:
    root.signed.add_key(s.public_key, "root")
for s in targets_signers:
    root.signed.add_key(s.public_key, "targets")
root.signed.add_key(snap_signer.public_key, "snapshot")
root.signed.add_key(ts_signer.public_key, "timestamp")
root.signed.roles["root"].threshold = 2
root.signed.roles["targets"].threshold = 2
for s in root_signers[:2]:
    root.sign(s, append=True)

data = os.urandom(1800)


def targets_md(version, signers):
    t = Metadata(Targets(version=version, expires=future))
    tf = TargetFile.from_data("fw.bin", data, ["sha256", "sha512"])
    tf.unrecognized_fields["custom"] = {"hardware_id": "sim-1", "security_counter": 3}
    t.signed.targets["fw.bin"] = tf
    for s in signers:
        t.sign(s, append=True)
    return t


def snapshot_md(version, targets_version):
    s = Metadata(Snapshot(version=version, expires=future))
    s.signed.meta["targets.json"] = MetaFile(version=targets_version)
    s.sign(snap_signer)
    return s


def timestamp_md(version, snapshot_version, expires=future):
    t = Metadata(Timestamp(version=version, expires=expires))
    t.signed.snapshot_meta = MetaFile(version=snapshot_version)
    t.sign(ts_signer)
    return t


def tree(name):
    d = os.path.join(out, name)
    os.makedirs(os.path.join(d, "metadata"), exist_ok=True)
    os.makedirs(os.path.join(d, "targets"), exist_ok=True)
    return d


def write(d, fname, md):
    md.to_file(os.path.join(d, "metadata", fname), ser)


good = tree("good")
write(good, "1.root.json", root)
write(good, "root.json", root)
write(good, "1.targets.json", targets_md(1, targets_signers))
write(good, "1.snapshot.json", snapshot_md(1, 1))
write(good, "timestamp.json", timestamp_md(5, 1))
tf = TargetFile.from_data("fw.bin", data, ["sha256", "sha512"])
for h in tf.hashes.values():
    open(os.path.join(good, "targets", f"{h}.fw.bin"), "wb").write(data)
open(os.path.join(out, "fw.bin"), "wb").write(data)


def variant(name):
    d = os.path.join(out, name)
    shutil.copytree(good, d)
    return d


write(variant("rollback"), "timestamp.json", timestamp_md(2, 1))
write(variant("freeze"), "timestamp.json", timestamp_md(6, 1, now - timedelta(hours=1)))
d = variant("mixmatch")
write(d, "2.snapshot.json", snapshot_md(1, 1))
write(d, "timestamp.json", timestamp_md(6, 2))
d = variant("threshold")
write(d, "2.targets.json", targets_md(2, targets_signers[:1]))
write(d, "2.snapshot.json", snapshot_md(2, 2))
write(d, "timestamp.json", timestamp_md(6, 2))
d = variant("oversized")
for h in tf.hashes.values():
    open(os.path.join(d, "targets", f"{h}.fw.bin"), "wb").write(data + b"\0")
print("ok")
