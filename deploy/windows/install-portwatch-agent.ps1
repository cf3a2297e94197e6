<#
.SYNOPSIS
  Installs (or removes) the portwatch agent as a Windows service with its certificates and config.

.DESCRIPTION
  Copies portwatch-agent.exe to -InstallDir, the CA certificate and this host's certificate and
  key to <DataDir>\pki (readable by SYSTEM and Administrators only), writes <DataDir>\agent.ini
  and installs the automatically started service "portwatch-agent", then starts it. Re-running
  it upgrades in place: the old service is stopped and replaced. Run from an elevated prompt.

.EXAMPLE
  .\install-portwatch-agent.ps1 -Collector portwatch.example.internal:7443 `
      -CaCert .\ca.pem -Cert .\web01.pem -Key .\web01.key

.EXAMPLE
  .\install-portwatch-agent.ps1 -Uninstall
#>
[CmdletBinding(DefaultParameterSetName = 'Install')]
param(
  [Parameter(ParameterSetName = 'Install', Mandatory = $true)] [string] $Collector,
  [Parameter(ParameterSetName = 'Install', Mandatory = $true)] [string] $CaCert,
  [Parameter(ParameterSetName = 'Install', Mandatory = $true)] [string] $Cert,
  [Parameter(ParameterSetName = 'Install', Mandatory = $true)] [string] $Key,
  [Parameter(ParameterSetName = 'Install')] [string] $HostName = '',
  [Parameter(ParameterSetName = 'Install')] [string] $ServerName = '',
  [Parameter(ParameterSetName = 'Install')] [string] $Interval = '15s',
  [Parameter(ParameterSetName = 'Install')] [string] $Executable = (Join-Path $PSScriptRoot 'portwatch-agent.exe'),
  [string] $InstallDir = (Join-Path $env:ProgramFiles 'portwatch'),
  [string] $DataDir = (Join-Path $env:ProgramData 'portwatch'),
  [string] $ServiceName = 'portwatch-agent',
  [Parameter(ParameterSetName = 'Uninstall', Mandatory = $true)] [switch] $Uninstall
)
$ErrorActionPreference = 'Stop'

$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
  throw 'install-portwatch-agent: run this from an elevated (Run as administrator) PowerShell.'
}

$installedExe = Join-Path $InstallDir 'portwatch-agent.exe'

function Remove-AgentService {
  if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) {
    & $installedExe uninstall-service --service-name $ServiceName
    if ($LASTEXITCODE -ne 0) { throw "install-portwatch-agent: could not remove service '$ServiceName' (see above)." }
  }
}

if ($Uninstall) {
  Remove-AgentService
  Write-Host "Removed service '$ServiceName'. $InstallDir and $DataDir (certificates, event bookmark, log) are left in place."
  return
}

foreach ($f in @($Executable, $CaCert, $Cert, $Key)) {
  if (-not (Test-Path -LiteralPath $f -PathType Leaf)) {
    throw "install-portwatch-agent: '$f' does not exist; pass the path of the file."
  }
}

# Stop and remove an older version first: its executable is locked while it runs.
if (Test-Path -LiteralPath $installedExe) { Remove-AgentService }

New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
# The data directory first, with its own ACL and nothing inherited from ProgramData (whose ACL
# lets Users create folders): a non-administrator must not be able to plant a junction or a file
# where the SYSTEM service writes, nor read the key. Nothing secret is copied before this holds.
New-Item -ItemType Directory -Force -Path $DataDir | Out-Null
& icacls.exe $DataDir /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' | Out-Null
if ($LASTEXITCODE -ne 0) { throw "install-portwatch-agent: could not restrict access to $DataDir." }
$pki = Join-Path $DataDir 'pki'
New-Item -ItemType Directory -Force -Path $pki | Out-Null
# The private key is readable by the service account (LocalSystem) and administrators only.
& icacls.exe $pki /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' | Out-Null
if ($LASTEXITCODE -ne 0) { throw "install-portwatch-agent: could not restrict access to $pki." }
Copy-Item -LiteralPath $Executable -Destination $installedExe -Force
Copy-Item -LiteralPath $CaCert -Destination (Join-Path $pki 'ca.pem') -Force
Copy-Item -LiteralPath $Cert -Destination (Join-Path $pki 'agent.pem') -Force
Copy-Item -LiteralPath $Key -Destination (Join-Path $pki 'agent.key') -Force

# Values are single-quoted: the agent's config parser (CLI11) splits unquoted values on spaces,
# and takes a single-quoted one literally, backslashes included ('D:\Port Watch').
function Format-IniValue([string] $value) {
  if ($value.Contains("'")) {
    throw "install-portwatch-agent: '$value' contains a single quote, which agent.ini cannot hold; choose a path without one."
  }
  return "'$value'"
}
$ini = @(
  '; Written by install-portwatch-agent.ps1; keys are the long options of `portwatch-agent.exe run`.'
  '[run]'
  "collector = $(Format-IniValue $Collector)"
  "ca = $(Format-IniValue (Join-Path $pki 'ca.pem'))"
  "cert = $(Format-IniValue (Join-Path $pki 'agent.pem'))"
  "key = $(Format-IniValue (Join-Path $pki 'agent.key'))"
  "interval = $(Format-IniValue $Interval)"
  "data-dir = $(Format-IniValue $DataDir)"
)
if ($HostName) { $ini += "host-name = $(Format-IniValue $HostName)" }
if ($ServerName) { $ini += "server-name = $(Format-IniValue $ServerName)" }
$config = Join-Path $DataDir 'agent.ini'
# UTF-8 without a byte order mark (a BOM would become part of the first line), so non-ASCII paths
# survive.
[IO.File]::WriteAllLines($config, [string[]] $ini, (New-Object Text.UTF8Encoding $false))

& $installedExe install-service --agent-config $config --service-name $ServiceName --start
if ($LASTEXITCODE -ne 0) { throw "install-portwatch-agent: installing the service failed (see above and $DataDir\agent.log)." }

$svc = Get-Service -Name $ServiceName
$svc.WaitForStatus('Running', [TimeSpan]::FromSeconds(30))
# A wrong certificate or collector address stops the service at once, with the reason in the log.
Start-Sleep -Seconds 3
$svc.Refresh()
if ($svc.Status -ne 'Running') {
  throw "install-portwatch-agent: the service stopped right after starting; see $DataDir\agent.log."
}
Write-Host "portwatch agent running as service '$ServiceName', reporting to $Collector; log: $DataDir\agent.log"
