//! Which CD-ROM drive `attach-cdrom` and `detach-cdrom` act on. A Windows template usually
//! keeps its installer ISO in `ide2`, the reference's fixed slot: attaching there would eject
//! the installer, and detaching with `deleteIso` would delete it. So the drive is chosen from
//! the VM's config: never one holding another medium or a disk.

use botmox_proxmox::VmConfig;

use crate::error::{ExecError, code};

/// Slots tried, in order, when the caller names none: `ide2` first (the usual CD drive), then
/// the ones a q35 machine also accepts, then SATA.
const CANDIDATES: &[&str] = &[
    "ide2", "ide0", "sata0", "sata1", "sata2", "sata3", "sata4", "sata5", "ide1", "ide3",
];

/// Every slot a CD-ROM can be in, as the payloads accept them.
fn all_slots() -> impl Iterator<Item = String> {
    let ide = (0..=3).map(|n| format!("ide{n}"));
    let sata = (0..=5).map(|n| format!("sata{n}"));
    let scsi = (0..=30).map(|n| format!("scsi{n}"));
    ide.chain(sata).chain(scsi)
}

/// What a slot holds.
#[derive(Debug, PartialEq, Eq)]
enum Slot<'a> {
    /// Absent, or an empty CD-ROM drive (`none,media=cdrom`).
    Free,
    /// A CD-ROM drive holding this volume.
    Cdrom(&'a str),
    /// A disk, or a passed-through drive: never touched.
    Other,
}

fn slot<'a>(config: &'a VmConfig, name: &str) -> Slot<'a> {
    let Some(value) = config.get(name) else {
        return Slot::Free;
    };
    let volume = value.split(',').next().unwrap_or_default();
    let cdrom = value.split(',').skip(1).any(|o| o == "media=cdrom");
    match (cdrom, volume) {
        (true, "none") => Slot::Free,
        (true, volume) if volume.contains(':') => Slot::Cdrom(volume),
        _ => Slot::Other,
    }
}

/// The slot holding `iso` as a CD-ROM, if any.
pub fn holding(config: &VmConfig, iso: &str) -> Option<String> {
    all_slots().find(|name| slot(config, name) == Slot::Cdrom(iso))
}

/// Where to insert `iso`: the slot asked for if it is free (or already holds `iso`), else the
/// slot already holding `iso`, else the first free candidate.
pub fn for_attach(config: &VmConfig, asked: Option<&str>, iso: &str) -> Result<String, ExecError> {
    if let Some(asked) = asked {
        return match slot(config, asked) {
            Slot::Free => Ok(asked.to_owned()),
            Slot::Cdrom(volume) if volume == iso => Ok(asked.to_owned()),
            _ => Err(ExecError::new(
                code::CDROM_SLOT_TAKEN,
                format!(
                    "{asked} holds {:?}; name a free slot or leave cdromSlot out to get one",
                    config.get(asked).unwrap_or_default()
                ),
            )),
        };
    }
    if let Some(held) = holding(config, iso) {
        return Ok(held);
    }
    CANDIDATES
        .iter()
        .find(|name| slot(config, name) == Slot::Free)
        .map(|name| (*name).to_owned())
        .ok_or_else(|| {
            ExecError::new(
                code::CDROM_SLOT_TAKEN,
                format!("no free CD-ROM slot among {}", CANDIDATES.join(", ")),
            )
        })
}

/// The drive to eject: the slot asked for, else the one holding `iso`, else `ide2`. `None`
/// when there is nothing to eject (an empty drive, or `iso` in no drive); refused when the
/// drive holds a disk, or another ISO than `iso`.
pub fn for_detach(
    config: &VmConfig,
    asked: Option<&str>,
    iso: Option<&str>,
) -> Result<Option<String>, ExecError> {
    let name = match (asked, iso) {
        (Some(asked), _) => asked.to_owned(),
        (None, Some(iso)) => match holding(config, iso) {
            Some(held) => held,
            None => return Ok(None),
        },
        (None, None) => "ide2".to_owned(),
    };
    let refused = |what: String| {
        Err(ExecError::new(
            code::CDROM_SLOT_TAKEN,
            format!("{name} {what}: not ejected"),
        ))
    };
    match slot(config, &name) {
        Slot::Free => Ok(None),
        Slot::Cdrom(volume) if iso.is_none_or(|iso| iso == volume) => Ok(Some(name)),
        Slot::Cdrom(volume) => refused(format!("holds {volume}, not {}", iso.unwrap_or_default())),
        Slot::Other => refused("is not a CD-ROM drive".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(entries: &[(&str, &str)]) -> VmConfig {
        let map: serde_json::Map<_, _> = entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::json!(v)))
            .collect();
        serde_json::from_value(serde_json::Value::Object(map)).unwrap()
    }

    const ISO: &str = "local:iso/provision-101.iso";

    #[test]
    fn an_empty_ide2_is_used() {
        let c = config(&[
            ("ide2", "none,media=cdrom"),
            ("sata0", "local-lvm:vm-101-disk-0"),
        ]);
        assert_eq!(for_attach(&c, None, ISO).unwrap(), "ide2");
    }

    #[test]
    fn the_installer_drive_and_disks_are_skipped() {
        let c = config(&[
            ("ide2", "local:iso/Win11.iso,media=cdrom,size=5G"),
            ("ide0", "local-lvm:vm-101-disk-1,size=1G"),
            ("sata0", "local-lvm:vm-101-disk-0,size=64G"),
        ]);
        assert_eq!(for_attach(&c, None, ISO).unwrap(), "sata1");
        let taken = for_attach(&c, Some("ide2"), ISO).unwrap_err();
        assert_eq!(taken.code, code::CDROM_SLOT_TAKEN);
        assert!(taken.message.contains("Win11.iso"), "{taken}");
        assert_eq!(for_attach(&c, Some("ide3"), ISO).unwrap(), "ide3");
        // A passed-through drive is not a free slot either.
        let c = config(&[("ide2", "cdrom,media=cdrom")]);
        assert_eq!(for_attach(&c, None, ISO).unwrap(), "ide0");
    }

    #[test]
    fn attaching_again_finds_the_same_slot() {
        let c = config(&[
            ("ide2", "local:iso/Win11.iso,media=cdrom"),
            ("sata3", &format!("{ISO},media=cdrom")),
        ]);
        assert_eq!(for_attach(&c, None, ISO).unwrap(), "sata3");
        assert_eq!(for_attach(&c, Some("sata3"), ISO).unwrap(), "sata3");
        assert_eq!(holding(&c, ISO).as_deref(), Some("sata3"));
        assert_eq!(holding(&c, "local:iso/other.iso"), None);
    }

    #[test]
    fn detach_finds_the_iso_and_never_ejects_a_disk_or_another_medium() {
        let c = config(&[
            ("ide2", "local:iso/Win11.iso,media=cdrom"),
            ("ide0", "none,media=cdrom"),
            ("sata0", "local-lvm:vm-101-disk-0,size=64G"),
            ("sata1", &format!("{ISO},media=cdrom")),
        ]);
        let detach = |asked, iso| for_detach(&c, asked, iso).map_err(|e| e.code);
        assert_eq!(detach(None, Some(ISO)), Ok(Some("sata1".into())));
        assert_eq!(detach(Some("sata1"), Some(ISO)), Ok(Some("sata1".into())));
        assert_eq!(detach(None, Some("local:iso/gone.iso")), Ok(None));
        assert_eq!(detach(Some("ide0"), None), Ok(None));
        // Without an ISO named, the reference's default slot, whatever it holds.
        assert_eq!(detach(None, None), Ok(Some("ide2".into())));
        let taken = Err(code::CDROM_SLOT_TAKEN.to_owned());
        assert_eq!(detach(Some("ide2"), Some(ISO)), taken);
        assert_eq!(detach(Some("sata0"), None), taken);
    }

    #[test]
    fn no_free_slot_is_a_clear_failure() {
        let entries: Vec<(&str, String)> = CANDIDATES
            .iter()
            .map(|s| (*s, format!("local-lvm:vm-101-{s}")))
            .collect();
        let entries: Vec<(&str, &str)> = entries.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let err = for_attach(&config(&entries), None, ISO).unwrap_err();
        assert_eq!(err.code, code::CDROM_SLOT_TAKEN);
    }
}
