; Berth's Windows installer, compiled by packaging/windows/build.sh with
; makensis (-WX: a warning fails the build). Installs per machine (Program
; Files, HKLM) berth.exe, berth-gui.exe, docker.exe and the guest image's
; Hyper-V disks, runs `berth setup` (Hyper-V socket services, the bin
; folder on the system Path, the signed-in user in Hyper-V Administrators:
; all in Go, where they are tested), adds a Start-menu entry and an
; uninstaller that keeps users' machines and data unless asked.
; packaging/windows/check-nsi.sh checks what this script must do.
; build.sh defines VERSION, VI_VERSION (X.X.X.X), BIN_DIR, GUEST_DIR, OUT
; and COMPRESSOR.

Unicode true
Target amd64-unicode
; lzma (the default) compresses every file as one stream with a 64 MiB
; window: system.vhdx's data is stored uncompressed so that the engine's
; binaries are packed against each other (README "Windows installer").
!if "${COMPRESSOR}" == "lzma"
SetCompressor /SOLID lzma
SetCompressorDictSize 64
!else
SetCompressor ${COMPRESSOR}
!endif
ManifestDPIAware true
RequestExecutionLevel admin

!include MUI2.nsh
!include LogicLib.nsh

!define APP Berth
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\Berth"
; berth setup's exit status when it added the user to Hyper-V
; Administrators (winsetup.ExitSignOut): the membership counts from the
; user's next sign-in.
!define SETUP_SIGN_OUT 10

Var SignOut

Name "${APP}"
OutFile "${OUT}"
; berth finds the guest image at ..\guest\amd64 from its own folder.
InstallDir "$PROGRAMFILES64\${APP}"
InstallDirRegKey HKLM "${UNINST_KEY}" "InstallLocation"
BrandingText "${APP} ${VERSION}"

VIProductVersion "${VI_VERSION}"
VIAddVersionKey ProductName "${APP}"
VIAddVersionKey ProductVersion "${VERSION}"
VIAddVersionKey FileVersion "${VERSION}"
VIAddVersionKey FileDescription "${APP} installer"
VIAddVersionKey LegalCopyright "Berth authors"

!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN
!define MUI_FINISHPAGE_RUN_TEXT "Start ${APP}"
!define MUI_FINISHPAGE_RUN_FUNCTION RunUnelevated
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!define MUI_PAGE_CUSTOMFUNCTION_SHOW FinishShow
!insertmacro MUI_PAGE_FINISH

!define MUI_COMPONENTSPAGE_TEXT_TOP "Your Berth machine (its images, containers and volumes) and settings stay unless you tick them. Other users' machines are never removed."
!insertmacro MUI_UNPAGE_COMPONENTS
!insertmacro MUI_UNPAGE_INSTFILES

!insertmacro MUI_LANGUAGE English

; Every user's Berth holds berth.exe open and each VM holds the disks.
; First each user's machine is stopped cleanly, as the user's own `berth
; stop` would (containers get their stop timeout): `berth stop --all-users`
; asks every user's daemon over its control socket, which admits
; administrators, and logs what happened to each. Only then are the
; processes left (idle daemons, dashboards, a daemon it could not reach)
; ended. BERTH is the berth.exe that stops them: on an upgrade the new one,
; unpacked to the plugins folder, as the installed one may predate
; --all-users.
!macro StopBerth un BERTH
Function ${un}StopBerth
  ${If} ${FileExists} "$INSTDIR\bin\berth.exe"
    DetailPrint "Stopping every user's Berth..."
    nsExec::ExecToLog '"${BERTH}" stop --all-users'
    Pop $0
    ${If} $0 != 0
      DetailPrint "Not every user's Berth stopped cleanly (berth stop --all-users: $0, above)."
    ${EndIf}
    DetailPrint "Ending the Berth processes still running, every user's berth.exe and berth-gui.exe..."
    nsExec::ExecToLog '"$SYSDIR\taskkill.exe" /F /IM berth-gui.exe'
    Pop $0
    nsExec::ExecToLog '"$SYSDIR\taskkill.exe" /F /IM berth.exe'
    Pop $0
  ${EndIf}
FunctionEnd
!macroend
!insertmacro StopBerth "" "$PLUGINSDIR\berth.exe"
!insertmacro StopBerth "un." "$INSTDIR\bin\berth.exe"

Function .onInit
  SetShellVarContext all
  ; The Hyper-V service (vmms) exists once the feature is on and Windows
  ; has restarted; Windows Home has no Hyper-V at all.
  ClearErrors
  ReadRegStr $0 HKLM "SYSTEM\CurrentControlSet\Services\vmms" "ImagePath"
  ${If} ${Errors}
    MessageBox MB_YESNO|MB_ICONEXCLAMATION "Hyper-V is not enabled on this computer, and Berth runs its Linux VM in Hyper-V (Windows Pro, Enterprise or Education).$\r$\n$\r$\nTo enable it, run in an administrator PowerShell:$\r$\n    Enable-WindowsOptionalFeature -Online -FeatureName Microsoft-Hyper-V -All$\r$\nor open $\"Turn Windows features on or off$\", tick $\"Hyper-V$\" and press OK. Then restart Windows.$\r$\n$\r$\nInstall Berth anyway?" /SD IDNO IDYES +2
    Abort
  ${EndIf}
FunctionEnd

; The installer runs elevated; the dashboard must run as the user, whose
; machine it is: Explorer starts it with the user's own token.
Function RunUnelevated
  Exec '"$WINDIR\explorer.exe" "$INSTDIR\bin\berth-gui.exe"'
FunctionEnd

; Berth cannot start before the user has signed out and in again.
Function FinishShow
  ${If} $SignOut == 1
    SendMessage $mui.FinishPage.Run ${BM_SETCHECK} 0 0
    ShowWindow $mui.FinishPage.Run ${SW_HIDE}
  ${EndIf}
FunctionEnd

Section "Berth" SecBerth
  SectionIn RO
  InitPluginsDir
  File "/oname=$PLUGINSDIR\berth.exe" "${BIN_DIR}\berth.exe"
  Call StopBerth
  SetOutPath "$INSTDIR\bin"
  File "${BIN_DIR}\berth.exe"
  File "${BIN_DIR}\berth-gui.exe"
  File "${BIN_DIR}\docker.exe"
  SetOutPath "$INSTDIR\guest\amd64"
  File "${GUEST_DIR}\manifest.json"
  SetOutPath "$INSTDIR\guest\amd64\hyperv"
  File "${GUEST_DIR}\hyperv\boot.vhdx"
  File "${GUEST_DIR}\hyperv\system.vhdx"
  WriteUninstaller "$INSTDIR\Uninstall.exe"

  WriteRegStr HKLM "${UNINST_KEY}" DisplayName "${APP}"
  WriteRegStr HKLM "${UNINST_KEY}" DisplayVersion "${VERSION}"
  WriteRegStr HKLM "${UNINST_KEY}" Publisher "Berth authors"
  WriteRegStr HKLM "${UNINST_KEY}" DisplayIcon '"$INSTDIR\bin\berth-gui.exe"'
  WriteRegStr HKLM "${UNINST_KEY}" InstallLocation "$INSTDIR"
  WriteRegStr HKLM "${UNINST_KEY}" UninstallString '"$INSTDIR\Uninstall.exe"'
  WriteRegStr HKLM "${UNINST_KEY}" QuietUninstallString '"$INSTDIR\Uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINST_KEY}" NoModify 1
  WriteRegDWORD HKLM "${UNINST_KEY}" NoRepair 1

  CreateShortCut "$SMPROGRAMS\${APP}.lnk" "$INSTDIR\bin\berth-gui.exe"

  DetailPrint "Setting up Berth: Hyper-V socket services, the Path, Hyper-V Administrators..."
  nsExec::ExecToLog '"$INSTDIR\bin\berth.exe" setup'
  Pop $0
  ; LogicLib's == and != compare strings, so nsExec's "error" and
  ; "timeout" are failures too.
  ${If} $0 == ${SETUP_SIGN_OUT}
    StrCpy $SignOut 1
    MessageBox MB_OK|MB_ICONINFORMATION "You were added to the Hyper-V Administrators group, which lets Berth run its Linux VM without administrator rights.$\r$\n$\r$\nSign out of Windows and sign in again before starting Berth: the group counts from your next sign-in." /SD IDOK
  ${ElseIf} $0 != 0
    MessageBox MB_ICONSTOP "Setting up Berth failed (berth setup: $0; the details are above). Run $\"$INSTDIR\bin\berth.exe setup$\" in an administrator terminal." /SD IDOK
    Abort
  ${EndIf}
SectionEnd

Function un.onInit
  SetShellVarContext all
FunctionEnd

; Before the program goes: `berth delete` needs the daemon, which needs
; the service registration. Only this user's machine and settings: the
; uninstaller runs as one user.
Section /o "un.My Berth machine and settings" SecUnData
  SetShellVarContext current
  ${If} ${FileExists} "$INSTDIR\bin\berth.exe"
    DetailPrint "Deleting your Berth machine..."
    nsExec::ExecToLog '"$INSTDIR\bin\berth.exe" delete --force'
    Pop $0
  ${EndIf}
  ; The daemon `berth delete` started keeps its log in the folder open.
  Call un.StopBerth
  RMDir /r "$LOCALAPPDATA\Berth"
  RMDir /r "$APPDATA\Berth"
  SetShellVarContext all
SectionEnd

Section "-un.Berth"
  Call un.StopBerth
  ${If} ${FileExists} "$INSTDIR\bin\berth.exe"
    DetailPrint "Unregistering Berth's Hyper-V socket services and removing Berth from the Path..."
    nsExec::ExecToLog '"$INSTDIR\bin\berth.exe" setup --undo'
    Pop $0
    ${If} $0 != 0
      DetailPrint "berth setup --undo failed ($0, above): remove $INSTDIR\bin from the system Path by hand."
    ${EndIf}
  ${EndIf}
  Delete "$SMPROGRAMS\${APP}.lnk"
  Delete "$INSTDIR\bin\berth.exe"
  Delete "$INSTDIR\bin\berth-gui.exe"
  Delete "$INSTDIR\bin\docker.exe"
  Delete "$INSTDIR\guest\amd64\manifest.json"
  Delete "$INSTDIR\guest\amd64\hyperv\boot.vhdx"
  Delete "$INSTDIR\guest\amd64\hyperv\system.vhdx"
  Delete "$INSTDIR\Uninstall.exe"
  RMDir "$INSTDIR\guest\amd64\hyperv"
  RMDir "$INSTDIR\guest\amd64"
  RMDir "$INSTDIR\guest"
  RMDir "$INSTDIR\bin"
  RMDir "$INSTDIR"
  DeleteRegKey HKLM "${UNINST_KEY}"
SectionEnd

!insertmacro MUI_UNFUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${SecUnData} "Deletes your Berth machine with its images, containers and volumes, and your settings (%LOCALAPPDATA%\Berth, %APPDATA%\Berth)."
!insertmacro MUI_UNFUNCTION_DESCRIPTION_END
