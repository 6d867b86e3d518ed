//! Task ids: `UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:`. The node in it is
//! where the task's status must be polled.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// A parsed UPID; displays as the original text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Upid {
    raw: String,
    node: String,
    pid: u32,
    pstart: u64,
    starttime: u64,
    task_type: String,
    id: String,
    user: String,
}

impl Upid {
    pub fn as_str(&self) -> &str {
        &self.raw
    }
    /// Node that runs the task.
    pub fn node(&self) -> &str {
        &self.node
    }
    pub fn pid(&self) -> u32 {
        self.pid
    }
    pub fn pstart(&self) -> u64 {
        self.pstart
    }
    /// Task start, unix seconds.
    pub fn starttime(&self) -> u64 {
        self.starttime
    }
    /// `qmstart`, `qmclone`, `imgcopy`, ...
    pub fn task_type(&self) -> &str {
        &self.task_type
    }
    /// Usually the vmid (for `qmclone` the source); empty for uploads.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// `user@realm` or `user@realm!tokenid`.
    pub fn user(&self) -> &str {
        &self.user
    }
}

fn hex_field(s: &str, min: usize, max: usize) -> Option<u64> {
    (s.len() >= min && s.len() <= max && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u64::from_str_radix(s, 16).ok())
        .flatten()
}

fn plain_field(s: &str) -> bool {
    !s.contains(['/', ':']) && !s.chars().any(char::is_whitespace)
}

impl FromStr for Upid {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::Decode(format!("not a UPID: '{s}'"));
        let parts: Vec<&str> = s.split(':').collect();
        let [
            "UPID",
            node,
            pid,
            pstart,
            starttime,
            task_type,
            id,
            user,
            "",
        ] = parts.as_slice()
        else {
            return Err(bad());
        };
        let node_ok = !node.is_empty()
            && node.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !node.starts_with('-')
            && !node.ends_with('-');
        if !node_ok
            || task_type.is_empty()
            || !plain_field(task_type)
            || !plain_field(id)
            || user.is_empty()
            || !plain_field(user)
        {
            return Err(bad());
        }
        Ok(Self {
            raw: s.to_owned(),
            node: (*node).to_owned(),
            pid: hex_field(pid, 8, 8).ok_or_else(bad)? as u32,
            pstart: hex_field(pstart, 8, 9).ok_or_else(bad)?,
            starttime: hex_field(starttime, 8, 8).ok_or_else(bad)?,
            task_type: (*task_type).to_owned(),
            id: (*id).to_owned(),
            user: (*user).to_owned(),
        })
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl fmt::Debug for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Upid({})", self.raw)
    }
}

impl Serialize for Upid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for Upid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shapes() {
        let u: Upid = "UPID:pve1:0003A1F2:01B4C5D6:66F0A1B2:qmstart:101:root@pam:"
            .parse()
            .unwrap();
        assert_eq!(u.node(), "pve1");
        assert_eq!(u.pid(), 0x0003_A1F2);
        assert_eq!(u.pstart(), 0x01B4_C5D6);
        assert_eq!(u.starttime(), 0x66F0_A1B2);
        assert_eq!(u.task_type(), "qmstart");
        assert_eq!(u.id(), "101");
        assert_eq!(u.user(), "root@pam");
        assert_eq!(
            u.to_string(),
            "UPID:pve1:0003A1F2:01B4C5D6:66F0A1B2:qmstart:101:root@pam:"
        );

        let upload: Upid = "UPID:pve-2:00000010:123456789:66F0A1B2:imgcopy::ops@pve!ci:"
            .parse()
            .unwrap();
        assert_eq!(upload.id(), "");
        assert_eq!(upload.user(), "ops@pve!ci");
        assert_eq!(upload.pstart(), 0x1_2345_6789);

        let json = serde_json::to_string(&upload).unwrap();
        let back: Upid = serde_json::from_str(&json).unwrap();
        assert_eq!(back, upload);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "UPID:pve:0003A1F2:01B4C5D6:66F0A1B2:qmstart:101:root@pam",
            "UPID:pve:3A1F2:01B4C5D6:66F0A1B2:qmstart:101:root@pam:",
            "UPID:pve:0003A1F2:01B4C5D6:66F0A1B2::101:root@pam:",
            "UPID:pve:0003A1F2:01B4C5D6:66F0A1B2:qmstart:101::",
            "UPID:-pve:0003A1F2:01B4C5D6:66F0A1B2:qmstart:101:root@pam:",
            "UPID:pve:0003A1F2:01B4C5D6:66F0A1B2:qm/start:101:root@pam:",
            "TASK:pve:0003A1F2:01B4C5D6:66F0A1B2:qmstart:101:root@pam:",
            "UPID:pve:0003A1G2:01B4C5D6:66F0A1B2:qmstart:101:root@pam:",
        ] {
            assert!(bad.parse::<Upid>().is_err(), "{bad}");
        }
    }
}
