# Bot-Mox bootstrap. The same file is on every VM's config ISO; everything about this VM is
# in provision.json. The first logon copies both to C:\WindowsSetup and starts this script.
#
#  1. find provision.json (beside this script, else the root of any file-system drive)
#  2. apply the static IPv4 address (prefix length from the netmask, checked before anything changes)
#  3. validate the provisioning token (retried while the server cannot be reached; a refusal ends the script)
#  4. report windows_installed
#  5. for each software entry: take a licence lease, resolve the download through it, download
#     with retries, check the size and SHA-256, optionally run it; report app_downloaded
#  6. with a playbook: start the runner on it and report playbook_running, then completed
#     (completed/completed marks the token used); without one: report completed
#
# Compatible with Windows PowerShell 5.1.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$SetupDir = 'C:\WindowsSetup'
$MaxAttempts = 8
$Config = $null
$ConfigPath = $null
$Validated = $false

New-Item -ItemType Directory -Force -Path $SetupDir | Out-Null
try { Start-Transcript -Path (Join-Path $SetupDir 'START.log') -Append | Out-Null } catch { }
# Windows PowerShell 5.1 does not offer TLS 1.2 by default.
[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12

function Write-Step([string]$Message) {
    Write-Host ('[{0:HH:mm:ss}] {1}' -f (Get-Date), $Message)
}

# A property of a parsed JSON object, or $Default when it is absent or null.
function Get-Field($Object, [string]$Name, $Default = $null) {
    if ($null -ne $Object -and $Object.PSObject.Properties[$Name] -and $null -ne $Object.$Name) {
        return $Object.$Name
    }
    return $Default
}

# provision.json beside this script (C:\WindowsSetup), else on the root of any file-system drive.
function Find-ProvisionFile {
    $candidates = @()
    if ($PSScriptRoot) { $candidates += (Join-Path $PSScriptRoot 'provision.json') }
    foreach ($drive in Get-PSDrive -PSProvider FileSystem) {
        $candidates += (Join-Path $drive.Root 'provision.json')
    }
    foreach ($path in $candidates) {
        if (Test-Path -LiteralPath $path -PathType Leaf) { return $path }
    }
    return $null
}

# Prefix length of a dotted IPv4 netmask: its leading one bits, which must be contiguous
# (255.255.255.0 -> 24). Throws on anything else.
function Get-PrefixLength([string]$Netmask) {
    $octets = $Netmask.Trim().Split('.')
    if ($octets.Count -ne 4) { throw "netmask '$Netmask' is not a dotted IPv4 netmask" }
    $prefix = 0
    $zeroSeen = $false
    foreach ($octet in $octets) {
        $value = 0
        if (-not [int]::TryParse($octet, [ref]$value) -or $value -lt 0 -or $value -gt 255) {
            throw "netmask '$Netmask' is not a dotted IPv4 netmask"
        }
        for ($bit = 7; $bit -ge 0; $bit--) {
            if ((($value -shr $bit) -band 1) -eq 1) {
                if ($zeroSeen) { throw "netmask '$Netmask' is not contiguous" }
                $prefix++
            } else {
                $zeroSeen = $true
            }
        }
    }
    return $prefix
}

# A hex string's bytes in reverse order ('00112233' -> '33221100').
function Convert-ByteOrder([string]$Hex) {
    $bytes = for ($i = $Hex.Length - 2; $i -ge 0; $i -= 2) { $Hex.Substring($i, 2) }
    return -join $bytes
}

# The SMBIOS UUID as Proxmox writes it: Windows shows the first three groups byte-swapped.
function Get-SmbiosUuid {
    try {
        $raw = (Get-CimInstance -ClassName Win32_ComputerSystemProduct).UUID
        $g = $raw.ToLowerInvariant().Split('-')
        if ($g.Count -ne 5) { return $null }
        return ('{0}-{1}-{2}-{3}-{4}' -f (Convert-ByteOrder $g[0]), (Convert-ByteOrder $g[1]), (Convert-ByteOrder $g[2]), $g[3], $g[4])
    } catch {
        return $null
    }
}

function Set-StaticIp($Ip) {
    $address = [string](Get-Field $Ip 'address')
    $gateway = [string](Get-Field $Ip 'gateway')
    $dns = @(Get-Field $Ip 'dns' @('8.8.8.8'))
    # Computed before anything changes: a bad netmask leaves the adapter as it is.
    $prefix = Get-PrefixLength ([string](Get-Field $Ip 'netmask' '255.255.255.0'))
    $adapter = Get-NetAdapter | Where-Object { $_.Status -eq 'Up' } | Sort-Object -Property ifIndex | Select-Object -First 1
    if (-not $adapter) { throw 'no network adapter is up' }
    $index = $adapter.ifIndex
    $current = @(Get-NetIPAddress -InterfaceIndex $index -AddressFamily IPv4 -ErrorAction SilentlyContinue)
    $done = $current | Where-Object { $_.IPAddress -eq $address -and $_.PrefixLength -eq $prefix }
    if (-not $done) {
        try {
            Set-NetIPInterface -InterfaceIndex $index -AddressFamily IPv4 -Dhcp Disabled -ErrorAction SilentlyContinue
            $current | Remove-NetIPAddress -Confirm:$false -ErrorAction SilentlyContinue
            Get-NetRoute -InterfaceIndex $index -AddressFamily IPv4 -DestinationPrefix '0.0.0.0/0' -ErrorAction SilentlyContinue |
                Remove-NetRoute -Confirm:$false -ErrorAction SilentlyContinue
            New-NetIPAddress -InterfaceIndex $index -AddressFamily IPv4 -IPAddress $address -PrefixLength $prefix -DefaultGateway $gateway | Out-Null
        } catch {
            # Do not leave the VM without an address: fall back to DHCP.
            Set-NetIPInterface -InterfaceIndex $index -AddressFamily IPv4 -Dhcp Enabled -ErrorAction SilentlyContinue
            throw "could not set $address/$prefix via $gateway on $($adapter.Name): $($_.Exception.Message)"
        }
    }
    Set-DnsClientServerAddress -InterfaceIndex $index -ServerAddresses $dns
    Write-Step "IPv4 $address/$prefix via $gateway on $($adapter.Name), DNS $($dns -join ', ')"
}

# POST a JSON body to the server's API and return the envelope's data. Retries with
# exponential back-off on network errors, timeouts, 408, 429 and 5xx; any other 4xx is final.
function Invoke-Api([string]$Path, $Body, [string]$Bearer = '', [int]$Attempts = $MaxAttempts) {
    $uri = $Config.api_endpoint + '/api/v1' + $Path
    $bytes = [Text.Encoding]::UTF8.GetBytes(($Body | ConvertTo-Json -Depth 8 -Compress))
    $headers = @{}
    if ($Bearer) { $headers['Authorization'] = "Bearer $Bearer" }
    $delay = 2
    for ($attempt = 1; ; $attempt++) {
        try {
            $answer = Invoke-RestMethod -Method Post -Uri $uri -Body $bytes -ContentType 'application/json; charset=utf-8' `
                -Headers $headers -TimeoutSec 30 -UseBasicParsing
            if (-not (Get-Field $answer 'success' $false)) { throw "POST $Path answered without success" }
            return $answer.data
        } catch {
            $status = 0
            $response = $_.Exception.Response
            if ($null -ne $response -and $response.PSObject.Properties['StatusCode']) { $status = [int]$response.StatusCode }
            $final = ($status -ge 400 -and $status -lt 500 -and $status -ne 408 -and $status -ne 429)
            if ($final -or $attempt -ge $Attempts) {
                throw "POST $Path failed (HTTP $status): $($_.Exception.Message)"
            }
            Write-Step "POST $Path failed (attempt $attempt, HTTP $status), retrying in $delay s"
            Start-Sleep -Seconds $delay
            $delay = [Math]::Min($delay * 2, 60)
        }
    }
}

# Report a progress step; a failure to report is logged, never fatal.
function Send-Progress([string]$Step, [string]$Status, $Details = @{}) {
    try {
        $body = @{ token = $Config.token; vm_uuid = $Config.vm_uuid; step = $Step; status = $Status; details = $Details }
        Invoke-Api '/provisioning/report-progress' $body '' 3 | Out-Null
        Write-Step "progress: $Step $Status"
    } catch {
        Write-Warning "could not report $Step/${Status}: $($_.Exception.Message)"
    }
}

# Download $Url to $Target through a temporary file; the file is kept only when its size
# and SHA-256 match.
function Receive-File([string]$Url, [string]$Sha256, [long]$Size, [string]$Target) {
    $part = "$Target.part"
    try {
        Invoke-WebRequest -Uri $Url -OutFile $part -UseBasicParsing -TimeoutSec 1800
        $length = (Get-Item -LiteralPath $part).Length
        if ($Size -gt 0 -and $length -ne $Size) { throw "size mismatch: got $length bytes, expected $Size" }
        $hash = (Get-FileHash -LiteralPath $part -Algorithm SHA256).Hash.ToLowerInvariant()
        if ($hash -ne $Sha256.ToLowerInvariant()) { throw "SHA-256 mismatch: got $hash, expected $Sha256" }
        Move-Item -LiteralPath $part -Destination $Target -Force
    } finally {
        Remove-Item -LiteralPath $part -Force -ErrorAction SilentlyContinue
    }
}

# One software entry: a lease for its module, then resolve-download (again on each attempt,
# as presigned URLs are short-lived), download and check, and run it when it has arguments.
function Install-Software($Item) {
    $module = [string]$Item.module
    $platform = [string](Get-Field $Item 'platform' 'windows')
    $channel = [string](Get-Field $Item 'channel' 'stable')
    $target = Join-Path $SetupDir ([string]$Item.file)
    $lease = Invoke-Api '/license/lease' @{
        vm_uuid = $Config.vm_uuid; agent_id = $env:COMPUTERNAME; runner_id = 'START.ps1'; module = $module
    } $Config.token
    $delay = 5
    for ($attempt = 1; ; $attempt++) {
        try {
            $artifact = Invoke-Api '/artifacts/resolve-download' @{
                lease_token = $lease.token; vm_uuid = $Config.vm_uuid; module = $module; platform = $platform; channel = $channel
            } $Config.token
            Receive-File $artifact.download_url $artifact.sha256 ([long]$artifact.size_bytes) $target
            break
        } catch {
            if ($attempt -ge 5) { throw "download of $module failed: $($_.Exception.Message)" }
            Write-Step "download of $module failed (attempt $attempt): $($_.Exception.Message); retrying in $delay s"
            Start-Sleep -Seconds $delay
            $delay = [Math]::Min($delay * 2, 120)
        }
    }
    Write-Step "downloaded $module $($artifact.version) to $target (SHA-256 checked)"
    $runArgs = [string](Get-Field $Item 'args' '')
    if ($runArgs) {
        $process = Start-Process -FilePath $target -ArgumentList $runArgs -Wait -PassThru
        if ($process.ExitCode -ne 0) { throw "$($Item.file) $runArgs exited with $($process.ExitCode)" }
    }
    Send-Progress 'app_downloaded' 'completed' @{ module = $module; version = [string]$artifact.version; file = [string]$Item.file }
}

try {
    $ConfigPath = Find-ProvisionFile
    if (-not $ConfigPath) {
        Write-Error 'provision.json was not found beside this script nor on any drive' -ErrorAction Continue
        exit 1
    }
    Write-Step "configuration: $ConfigPath"
    $Config = Get-Content -LiteralPath $ConfigPath -Raw -Encoding UTF8 | ConvertFrom-Json
    $Config.api_endpoint = ([string]$Config.api_endpoint).TrimEnd('/')

    Set-StaticIp $Config.ip

    $smbios = Get-SmbiosUuid
    if ($smbios -and $smbios -ne ([string]$Config.vm_uuid).ToLowerInvariant()) {
        Write-Warning "this VM's SMBIOS UUID $smbios differs from provision.json's $($Config.vm_uuid)"
    }

    try {
        $validation = Invoke-Api '/provisioning/validate-token' @{ token = $Config.token; vm_uuid = $Config.vm_uuid }
    } catch {
        Write-Error "the provisioning token was not accepted: $($_.Exception.Message)" -ErrorAction Continue
        exit 1
    }
    if (-not (Get-Field $validation 'valid' $false)) {
        Write-Error 'the provisioning token is not valid' -ErrorAction Continue
        exit 1
    }
    $Validated = $true
    Send-Progress 'windows_installed' 'completed' @{ computer_name = $env:COMPUTERNAME; smbios_uuid = $smbios }

    $software = @(Get-Field $Config 'software' @())
    $runner = $null
    if ($software.Count -gt 0) {
        Send-Progress 'downloader_ready' 'running' @{ modules = @($software | ForEach-Object { [string]$_.module }) }
        foreach ($item in $software) {
            try {
                Install-Software $item
            } catch {
                Send-Progress 'app_downloaded' 'failed' @{ module = [string]$item.module; error = $_.Exception.Message }
                throw
            }
            if (Get-Field $item 'runner' $false) { $runner = Join-Path $SetupDir ([string]$item.file) }
        }
    }

    $playbook = Join-Path (Split-Path -Parent $ConfigPath) 'playbook.yml'
    if (Test-Path -LiteralPath $playbook -PathType Leaf) {
        if (-not $runner) { throw 'a playbook was given but no software entry is its runner' }
        Send-Progress 'playbook_running' 'running' @{ playbook = $playbook }
        $arguments = @('--headless', '--config', "`"$ConfigPath`"", '--playbook', "`"$playbook`"")
        $process = Start-Process -FilePath $runner -ArgumentList $arguments -Wait -PassThru
        if ($process.ExitCode -ne 0) { throw "the playbook runner exited with $($process.ExitCode)" }
    }
    Send-Progress 'completed' 'completed' @{}
    Write-Step 'provisioning complete'
    exit 0
} catch {
    $message = $_.Exception.Message
    Write-Error "provisioning failed: $message" -ErrorAction Continue
    if ($Validated) { Send-Progress 'completed' 'failed' @{ error = $message } }
    exit 1
} finally {
    try { Stop-Transcript | Out-Null } catch { }
}
