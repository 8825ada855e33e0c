//! The boot decision core on simulated A/B slots: swap, test/confirm, revert, overwrite,
//! anti-rollback and refusal.

use palisade_firmware::boot::{Action, BootConfig, BootOutcome, Rejection, SimDevice, UpgradeMode};
use palisade_firmware::{KeyType, PrivateKey, VerifyError, sign};

use crate::common::{key, opts, payload};

const SLOT: usize = 0x20000;

fn img(k: &PrivateKey, version: &str, counter: u32) -> Vec<u8> {
    sign(
        &payload(20_000, counter),
        Some(k),
        &opts(version, Some(counter)),
    )
    .unwrap()
}

fn booted(o: BootOutcome) -> palisade_firmware::boot::Decision {
    match o {
        BootOutcome::Booted(d) => d,
        BootOutcome::Refused(r) => panic!("refused: {r}"),
    }
}

#[test]
fn swap_test_confirm_and_revert() {
    let (k, _) = key(KeyType::Ed25519);
    let pk = k.public_key().unwrap();
    let keys = [pk.as_trusted()];
    let cfg = BootConfig {
        keys: &keys,
        mode: UpgradeMode::Swap,
    };
    let mut dev = SimDevice::new(SLOT);
    assert!(dev.flash_primary(&img(&k, "1.0.0", 1)));
    let d = booted(dev.boot(&cfg));
    assert_eq!(d.action, Action::BootPrimary);
    assert_eq!(dev.nv_counter, 1);

    // Test upgrade to 2.0.0, not confirmed: next boot reverts.
    assert!(dev.stage(&img(&k, "2.0.0", 2), false));
    let d = booted(dev.boot(&cfg));
    assert_eq!(d.action, Action::Swap { permanent: false });
    assert_eq!(d.image.version.major, 2);
    assert_eq!(dev.nv_counter, 1, "a test image does not raise the counter");
    let d = booted(dev.boot(&cfg));
    assert_eq!(d.action, Action::Revert);
    assert_eq!(d.image.version.major, 1);
    let d = booted(dev.boot(&cfg));
    assert_eq!((d.action, d.image.version.major), (Action::BootPrimary, 1));

    // Test upgrade again, confirmed this time: it stays and the counter rises.
    assert!(dev.stage(&img(&k, "2.0.0", 2), false));
    booted(dev.boot(&cfg));
    dev.confirm();
    let d = booted(dev.boot(&cfg));
    assert_eq!((d.action, d.image.version.major), (Action::BootPrimary, 2));
    assert_eq!(dev.nv_counter, 2);

    // Rollback: an old (validly signed) image is refused and erased; 2.0.0 keeps running.
    assert!(dev.stage(&img(&k, "1.0.0", 1), true));
    let d = booted(dev.boot(&cfg));
    assert_eq!(d.action, Action::BootPrimary);
    assert!(matches!(
        d.rejected_upgrade,
        Some(Rejection::Invalid(VerifyError::Rollback {
            image: 1,
            minimum: 2,
            ..
        }))
    ));
    assert!(dev.secondary.iter().all(|&b| b == 0xff));

    // Forged update (other key) refused; permanent upgrade applied immediately.
    let (evil, _) = key(KeyType::Ed25519);
    assert!(dev.stage(&img(&evil, "9.0.0", 9), true));
    let d = booted(dev.boot(&cfg));
    assert!(matches!(
        d.rejected_upgrade,
        Some(Rejection::Invalid(VerifyError::UnknownKey { .. }))
    ));
    assert!(dev.stage(&img(&k, "3.0.0", 3), true));
    let d = booted(dev.boot(&cfg));
    assert_eq!(d.action, Action::Swap { permanent: true });
    assert_eq!(dev.nv_counter, 3);
    let d = booted(dev.boot(&cfg));
    assert_eq!((d.action, d.image.version.major), (Action::BootPrimary, 3));
}

#[test]
fn overwrite_with_downgrade_prevention_and_refusal() {
    let (k, _) = key(KeyType::EcdsaP256);
    let pk = k.public_key().unwrap();
    let keys = [pk.as_trusted()];
    let cfg = BootConfig {
        keys: &keys,
        mode: UpgradeMode::Overwrite {
            downgrade_prevention: true,
        },
    };
    let mut dev = SimDevice::new(SLOT);
    // Erased flash: nothing to boot.
    assert!(matches!(dev.boot(&cfg), BootOutcome::Refused(_)));
    dev.flash_primary(&img(&k, "1.2.0", 1));
    booted(dev.boot(&cfg));
    dev.stage(&img(&k, "1.3.0", 1), false);
    let d = booted(dev.boot(&cfg));
    assert_eq!(d.action, Action::Overwrite);
    assert_eq!(d.image.version.minor, 3);
    // Same counter, lower version: refused by downgrade prevention.
    dev.stage(&img(&k, "1.1.0", 1), false);
    let d = booted(dev.boot(&cfg));
    assert!(matches!(
        d.rejected_upgrade,
        Some(Rejection::Downgrade { .. })
    ));
    assert_eq!(d.image.version.minor, 3);
    // Corrupt primary and nothing staged: refuse with the reason.
    dev.primary[0x300] ^= 1;
    match dev.boot(&cfg) {
        BootOutcome::Refused(r) => {
            assert!(matches!(r.primary, VerifyError::HashMismatch { .. }));
            assert!(r.to_string().contains("no bootable image"));
        }
        BootOutcome::Booted(_) => panic!("booted a corrupt image"),
    }
}
