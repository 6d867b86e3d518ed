//! `setup.ps1`: the profile's settings as a PowerShell file on the ISO (spec provisioning
//! §4.3-4.6), run by one short first-logon command with `-File` instead of the
//! reference's inline `-Command` that was far over the 1 024-character limit.

use std::fmt::Write as _;

use crate::resolve::{DESKTOP_ICONS, EFFECT_SLOTS, RegType, Resolved};

const HIDE_ICONS: &str =
    r"HKCU\Software\Microsoft\Windows\CurrentVersion\Explorer\HideDesktopIcons\NewStartPanel";
const START: &str = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Start";
/// The "Remote Desktop" firewall group by its resource id: the display name is translated.
const RDP_GROUP: &str = "@FirewallAPI.dll,-28752";

/// `s` as a single-quoted PowerShell string (no expansion; `'` doubled).
pub fn ps_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        // PowerShell also takes the typographic single quotes as quote characters.
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

fn reg(out: &mut String, path: &str, name: &str, kind: RegType, value: &str) {
    let _ = writeln!(
        out,
        "Set-Reg {} {} {} {}",
        ps_quote(path),
        ps_quote(name),
        kind.as_str(),
        ps_quote(value)
    );
}

fn dword(out: &mut String, path: &str, name: &str, value: u32) {
    reg(out, path, name, RegType::Dword, &value.to_string());
}

const PRELUDE: &str = r#"# Bot-Mox: the Windows settings of this VM's unattend profile, run once at first logon
# (as the auto-logged-on user, so HKCU is that user's). Generated; every step is independent,
# and a failing one is logged and skipped.
$ErrorActionPreference = 'Continue'
$ProgressPreference = 'SilentlyContinue'
Start-Transcript -Path (Join-Path $PSScriptRoot 'setup.log') -Append | Out-Null

function Set-Reg([string]$Path, [string]$Name, [string]$Type, [string]$Value) {
    & reg.exe add $Path /v $Name /t $Type /d $Value /f | Out-Null
    if ($LASTEXITCODE -ne 0) { Write-Warning "reg add $Path /v $Name failed ($LASTEXITCODE)" }
}

function Remove-Package([string]$Fragment) {
    # Provisioned packages (future users) and the ones already installed for any user.
    Get-AppxProvisionedPackage -Online | Where-Object { $_.PackageName -like "*$Fragment*" } |
        ForEach-Object { Remove-AppxProvisionedPackage -Online -PackageName $_.PackageName -ErrorAction SilentlyContinue | Out-Null }
    Get-AppxPackage -AllUsers | Where-Object { $_.Name -like "*$Fragment*" } |
        ForEach-Object { Remove-AppxPackage -Package $_.PackageFullName -AllUsers -ErrorAction SilentlyContinue }
}

function Remove-Capability([string]$Fragment) {
    Get-WindowsCapability -Online | Where-Object { $_.State -eq 'Installed' -and $_.Name -like "*$Fragment*" } |
        ForEach-Object { Remove-WindowsCapability -Online -Name $_.Name -ErrorAction SilentlyContinue | Out-Null }
}
"#;

/// The settings script of one VM.
pub fn settings_script(r: &Resolved) -> String {
    let mut out = String::with_capacity(4096 + 64 * (r.packages.len() + r.capabilities.len()));
    out.push_str(PRELUDE);

    if !r.packages.is_empty() {
        out.push_str("\n# Appx packages\n");
        for p in &r.packages {
            let _ = writeln!(out, "Remove-Package {}", ps_quote(p));
        }
    }
    if !r.capabilities.is_empty() {
        out.push_str("\n# Windows capabilities\n");
        for c in &r.capabilities {
            let _ = writeln!(out, "Remove-Capability {}", ps_quote(c));
        }
    }

    out.push_str("\n# Windows settings\n");
    let s = &r.settings;
    if s.disable_defender {
        out.push_str(
            "Set-MpPreference -DisableRealtimeMonitoring $true -ErrorAction SilentlyContinue\n",
        );
        dword(
            &mut out,
            r"HKLM\SOFTWARE\Policies\Microsoft\Windows Defender",
            "DisableAntiSpyware",
            1,
        );
    }
    if s.disable_windows_update {
        dword(
            &mut out,
            r"HKLM\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU",
            "NoAutoUpdate",
            1,
        );
    }
    if s.disable_uac {
        dword(
            &mut out,
            r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System",
            "EnableLUA",
            0,
        );
    }
    if s.disable_smart_screen {
        reg(
            &mut out,
            r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Explorer",
            "SmartScreenEnabled",
            RegType::Sz,
            "Off",
        );
    }
    if s.disable_system_restore {
        out.push_str("Disable-ComputerRestore -Drive 'C:\\' -ErrorAction SilentlyContinue\n");
    }
    if s.enable_long_paths {
        dword(
            &mut out,
            r"HKLM\SYSTEM\CurrentControlSet\Control\FileSystem",
            "LongPathsEnabled",
            1,
        );
    }
    if s.allow_power_shell_scripts {
        out.push_str(
            "Set-ExecutionPolicy Bypass -Scope LocalMachine -Force -ErrorAction SilentlyContinue\n",
        );
    }
    if s.disable_widgets {
        dword(
            &mut out,
            r"HKLM\SOFTWARE\Policies\Microsoft\Dsh",
            "AllowNewsAndInterests",
            0,
        );
    }
    if s.disable_edge_startup {
        dword(
            &mut out,
            r"HKLM\SOFTWARE\Policies\Microsoft\Edge",
            "HideFirstRunExperience",
            1,
        );
    }
    if s.prevent_device_encryption {
        dword(
            &mut out,
            r"HKLM\SYSTEM\CurrentControlSet\Control\BitLocker",
            "PreventDeviceEncryption",
            1,
        );
    }
    if s.disable_sticky_keys {
        reg(
            &mut out,
            r"HKCU\Control Panel\Accessibility\StickyKeys",
            "Flags",
            RegType::Sz,
            "506",
        );
    }
    if s.enable_remote_desktop {
        dword(
            &mut out,
            r"HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server",
            "fDenyTSConnections",
            0,
        );
        let _ = writeln!(
            out,
            "Get-NetFirewallRule -Group {} | Enable-NetFirewallRule",
            ps_quote(RDP_GROUP)
        );
    }

    out.push_str("\n# Home location\n");
    let _ = writeln!(out, "Set-WinHomeLocation -GeoId {}", r.geo_id);

    if let Some(on) = &r.visual_effects {
        out.push_str("\n# Visual effects\n");
        dword(
            &mut out,
            r"HKCU\Software\Microsoft\Windows\CurrentVersion\Explorer\VisualEffects",
            "VisualFXSetting",
            3,
        );
        for (slot, on) in EFFECT_SLOTS.iter().zip(on) {
            reg(
                &mut out,
                slot.path,
                slot.name,
                slot.kind,
                if *on { slot.on } else { slot.off },
            );
        }
    }

    if let Some(desktop) = &r.desktop {
        out.push_str("\n# Desktop icons and Start folders\n");
        for ((_, clsid), shown) in DESKTOP_ICONS.iter().zip(desktop.icons) {
            dword(&mut out, HIDE_ICONS, clsid, u32::from(!shown));
        }
        for (value, shown) in &desktop.start_folders {
            dword(&mut out, START, value, u32::from(*shown));
        }
    }

    if r.delete_edge_shortcut {
        out.push_str("\n# Edge shortcut\n");
        out.push_str(
            "Remove-Item -LiteralPath (Join-Path $env:PUBLIC 'Desktop\\Microsoft Edge.lnk'), \
             (Join-Path ([Environment]::GetFolderPath('Desktop')) 'Microsoft Edge.lnk') \
             -Force -ErrorAction SilentlyContinue\n",
        );
    }

    out.push_str("\nStop-Transcript | Out-Null\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_quotes_are_doubled() {
        assert_eq!(ps_quote("a'b"), "'a''b'");
        assert_eq!(ps_quote("a\u{2019}b"), "'a\u{2019}\u{2019}b'");
        assert_eq!(ps_quote("$x `y"), "'$x `y'");
    }
}
