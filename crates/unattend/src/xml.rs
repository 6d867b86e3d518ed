//! `autounattend.xml` (spec provisioning §4.1-4.2), written with quick-xml's writer so every
//! value is escaped by it.

use std::io::Cursor;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use quick_xml::Writer;
use quick_xml::escape::partial_escape;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use crate::resolve::Resolved;
use crate::{SETTINGS_SCRIPT, SETUP_DIR};

pub const UNATTEND_NS: &str = "urn:schemas-microsoft-com:unattend";
pub const WCM_NS: &str = "http://schemas.microsoft.com/WMIConfig/2002/State";
/// Longest `CommandLine` (and `Path`) Windows Setup runs.
pub const MAX_COMMAND_LINE: usize = 1024;

/// A password as an answer file carries it with `PlainText` false: base64 of the UTF-16LE
/// bytes of the password followed by the element name (`Password` for local accounts and
/// auto-logon, `AdministratorPassword` for the built-in administrator).
pub fn encode_password(password: &str, element: &str) -> String {
    let mut bytes = Vec::with_capacity((password.len() + element.len()) * 2);
    for unit in password.encode_utf16().chain(element.encode_utf16()) {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    STANDARD.encode(bytes)
}

/// The first-logon commands, in order: description and command line.
pub fn first_logon_commands(r: &Resolved, iso_files: &[&str]) -> Vec<(&'static str, String)> {
    let copy_list = iso_files
        .iter()
        .map(|f| format!("'{f}'"))
        .collect::<Vec<_>>()
        .join(",");
    // Only single quotes inside the double-quoted -Command: cmd and PowerShell agree on it.
    let copy = format!(
        "powershell.exe -NoProfile -ExecutionPolicy Bypass -Command \"\
         New-Item -ItemType Directory -Force -Path '{SETUP_DIR}' | Out-Null; \
         $src = Get-PSDrive -PSProvider FileSystem | ForEach-Object {{ $_.Root }} | \
         Where-Object {{ (Test-Path -LiteralPath (Join-Path $_ 'provision.json')) -and \
         (Test-Path -LiteralPath (Join-Path $_ '{SETTINGS_SCRIPT}')) }} | Select-Object -First 1; \
         foreach ($f in {copy_list}) {{ $p = Join-Path $src $f; \
         if (Test-Path -LiteralPath $p) {{ Copy-Item -LiteralPath $p -Destination '{SETUP_DIR}' -Force; \
         (Get-Item -LiteralPath (Join-Path '{SETUP_DIR}' $f)).IsReadOnly = $false }} }}\""
    );
    let settings = format!(
        "powershell.exe -NoProfile -ExecutionPolicy Bypass -File {SETUP_DIR}\\{SETTINGS_SCRIPT}"
    );
    let exe = &r.launcher.executable;
    let path = format!("{SETUP_DIR}\\{exe}");
    let delay = r.launcher.delay_seconds;
    // `start` returns at once: the first logon is not held up, and the program runs detached
    // in its own visible console. The delay is a `Start-Sleep` inside that console (cmd's
    // `timeout` refuses to run when its input is redirected); inside `-Command "..."` only
    // single quotes are used, and file names are `[A-Za-z0-9._-]`.
    let program = match (exe.to_ascii_lowercase().ends_with(".ps1"), delay) {
        // `& 'script'` rather than `-File`: an `exit` in the script then ends the script
        // only, and `-NoExit` keeps its console open for the operator to read.
        (true, 0) => format!(
            "powershell.exe -NoExit -NoProfile -ExecutionPolicy Bypass -WindowStyle Normal \
             -Command \"& '{path}'\""
        ),
        (true, _) => format!(
            "powershell.exe -NoExit -NoProfile -ExecutionPolicy Bypass -WindowStyle Normal \
             -Command \"Start-Sleep -Seconds {delay}; & '{path}'\""
        ),
        (false, 0) => format!("/D {SETUP_DIR} {path}"),
        (false, _) => format!(
            "powershell.exe -NoProfile -ExecutionPolicy Bypass -WindowStyle Minimized \
             -Command \"Start-Sleep -Seconds {delay}; Start-Process -FilePath '{path}' -WorkingDirectory '{SETUP_DIR}'\""
        ),
    };
    let launch = format!("cmd.exe /c start \"SETUP_LOG\" {program}");
    vec![
        ("Copy the provisioning files from the config ISO", copy),
        ("Apply the profile's Windows settings", settings),
        ("Start the bootstrap", launch),
    ]
}

struct Xml {
    w: Writer<Cursor<Vec<u8>>>,
}

impl Xml {
    fn event(&mut self, event: Event<'_>) {
        // Writing into memory cannot fail.
        self.w
            .write_event(event)
            .expect("writing XML into a Vec cannot fail");
    }

    fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        let mut start = BytesStart::new(name);
        for attr in attrs {
            start.push_attribute(*attr);
        }
        self.event(Event::Start(start));
    }

    fn close(&mut self, name: &str) {
        self.event(Event::End(BytesEnd::new(name)));
    }

    fn leaf(&mut self, name: &str, text: &str) {
        self.open(name, &[]);
        // `<`, `>` and `&` escaped; quotes need no escaping in text and stay readable.
        self.event(Event::Text(BytesText::from_escaped(partial_escape(text))));
        self.close(name);
    }

    fn leaf_add(&mut self, name: &str) {
        self.open(name, &[("wcm:action", "add")]);
    }

    fn component(&mut self, name: &str) {
        self.open(
            "component",
            &[
                ("name", name),
                ("processorArchitecture", "amd64"),
                ("publicKeyToken", "31bf3856ad364e35"),
                ("language", "neutral"),
                ("versionScope", "nonSxS"),
            ],
        );
    }

    fn locales(&mut self, r: &Resolved) {
        self.leaf("InputLocale", &r.input_locale);
        self.leaf("SystemLocale", &r.ui_language);
        self.leaf("UILanguage", &r.ui_language);
        self.leaf("UserLocale", &r.ui_language);
    }

    fn password(&mut self, password: &str) {
        self.open("Password", &[]);
        self.leaf("Value", &encode_password(password, "Password"));
        self.leaf("PlainText", "false");
        self.close("Password");
    }
}

/// The answer file of one VM. `iso_files` are the files the first logon copies from the
/// ISO to `C:\WindowsSetup` (never the answer file itself).
pub fn autounattend_xml(r: &Resolved, iso_files: &[&str]) -> String {
    let mut x = Xml {
        w: Writer::new_with_indent(Cursor::new(Vec::with_capacity(8 * 1024)), b' ', 2),
    };
    x.event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)));
    x.open("unattend", &[("xmlns", UNATTEND_NS), ("xmlns:wcm", WCM_NS)]);

    // windowsPE: language of Setup, and the disk (UEFI: EFI, MSR, Windows).
    x.open("settings", &[("pass", "windowsPE")]);
    x.component("Microsoft-Windows-International-Core-WinPE");
    x.open("SetupUILanguage", &[]);
    x.leaf("UILanguage", &r.ui_language);
    x.close("SetupUILanguage");
    x.locales(r);
    x.close("component");
    x.component("Microsoft-Windows-Setup");
    x.open("DiskConfiguration", &[]);
    x.leaf_add("Disk");
    x.leaf("DiskID", "0");
    x.leaf("WillWipeDisk", "true");
    x.open("CreatePartitions", &[]);
    for (order, kind, size) in [
        ("1", "EFI", Some("512")),
        ("2", "MSR", Some("16")),
        ("3", "Primary", None),
    ] {
        x.leaf_add("CreatePartition");
        x.leaf("Order", order);
        x.leaf("Type", kind);
        match size {
            Some(size) => x.leaf("Size", size),
            None => x.leaf("Extend", "true"),
        }
        x.close("CreatePartition");
    }
    x.close("CreatePartitions");
    x.open("ModifyPartitions", &[]);
    for (order, id, format, label, letter) in [
        ("1", "1", "FAT32", "System", None),
        ("2", "3", "NTFS", "Windows", Some("C")),
    ] {
        x.leaf_add("ModifyPartition");
        x.leaf("Order", order);
        x.leaf("PartitionID", id);
        x.leaf("Format", format);
        x.leaf("Label", label);
        if let Some(letter) = letter {
            x.leaf("Letter", letter);
        }
        x.close("ModifyPartition");
    }
    x.close("ModifyPartitions");
    x.close("Disk");
    x.close("DiskConfiguration");
    x.open("ImageInstall", &[]);
    x.open("OSImage", &[]);
    x.open("InstallTo", &[]);
    x.leaf("DiskID", "0");
    x.leaf("PartitionID", "3");
    x.close("InstallTo");
    x.close("OSImage");
    x.close("ImageInstall");
    x.open("UserData", &[]);
    x.leaf("AcceptEula", "true");
    x.open("ProductKey", &[]);
    x.leaf("WillShowUI", "OnError");
    x.close("ProductKey");
    x.close("UserData");
    x.close("component");
    x.close("settings");

    // specialize: names, time zone, locales, and no network requirement in OOBE.
    x.open("settings", &[("pass", "specialize")]);
    x.component("Microsoft-Windows-Shell-Setup");
    x.leaf("ComputerName", &r.computer_name);
    x.leaf("TimeZone", &r.time_zone);
    x.close("component");
    x.component("Microsoft-Windows-International-Core");
    x.locales(r);
    x.close("component");
    x.component("Microsoft-Windows-Deployment");
    x.open("RunSynchronous", &[]);
    x.leaf_add("RunSynchronousCommand");
    x.leaf("Order", "1");
    x.leaf("Description", "Allow OOBE without a network");
    x.leaf(
        "Path",
        r"reg.exe add HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\OOBE /v BypassNRO /t REG_DWORD /d 1 /f",
    );
    x.close("RunSynchronousCommand");
    x.close("RunSynchronous");
    x.close("component");
    x.close("settings");

    // oobeSystem: the account, auto-logon and the first-logon commands.
    x.open("settings", &[("pass", "oobeSystem")]);
    x.component("Microsoft-Windows-Shell-Setup");
    if let Some(count) = r.auto_logon_count {
        x.open("AutoLogon", &[]);
        x.password(&r.password);
        x.leaf("Enabled", "true");
        x.leaf("LogonCount", &count.to_string());
        x.leaf("Username", &r.username);
        x.close("AutoLogon");
    }
    x.open("FirstLogonCommands", &[]);
    for (i, (description, command)) in first_logon_commands(r, iso_files).iter().enumerate() {
        x.leaf_add("SynchronousCommand");
        x.leaf("Order", &(i + 1).to_string());
        x.leaf("Description", description);
        x.leaf("CommandLine", command);
        x.close("SynchronousCommand");
    }
    x.close("FirstLogonCommands");
    x.open("OOBE", &[]);
    x.leaf("HideEULAPage", "true");
    x.leaf("HideLocalAccountScreen", "true");
    x.leaf("HideOnlineAccountScreens", "true");
    x.leaf("HideWirelessSetupInOOBE", "true");
    x.leaf("ProtectYourPC", "3");
    x.close("OOBE");
    x.open("UserAccounts", &[]);
    x.open("LocalAccounts", &[]);
    x.leaf_add("LocalAccount");
    x.password(&r.password);
    x.leaf("Description", "Provisioned by Bot-Mox");
    x.leaf("DisplayName", &r.display_name);
    x.leaf("Group", r.group.as_str());
    x.leaf("Name", &r.username);
    x.close("LocalAccount");
    x.close("LocalAccounts");
    x.close("UserAccounts");
    x.close("component");
    x.close("settings");

    x.close("unattend");
    let mut bytes = x.w.into_inner().into_inner();
    bytes.push(b'\n');
    // quick-xml writes the UTF-8 of &str values only.
    String::from_utf8(bytes).expect("quick-xml writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_utf16le_with_the_element_suffix() {
        // "1204Password" as UTF-16LE: each ASCII byte followed by a zero byte.
        assert_eq!(
            encode_password("1204", "Password"),
            "MQAyADAANABQAGEAcwBzAHcAbwByAGQA"
        );
        let decoded = STANDARD
            .decode(encode_password("é€", "AdministratorPassword"))
            .unwrap();
        let units: Vec<u16> = decoded
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(
            String::from_utf16(&units).unwrap(),
            "é€AdministratorPassword"
        );
    }
}
