/** Names for the flag bits and codes of [MS-SHLLINK], and the known folders a link may name. */

/** LinkFlags (2.1.1), bit by bit. */
export const LINK_FLAGS = [
  "HasLinkTargetIDList",
  "HasLinkInfo",
  "HasName",
  "HasRelativePath",
  "HasWorkingDir",
  "HasArguments",
  "HasIconLocation",
  "IsUnicode",
  "ForceNoLinkInfo",
  "HasExpString",
  "RunInSeparateProcess",
  "Unused1",
  "HasDarwinID",
  "RunAsUser",
  "HasExpIcon",
  "NoPidlAlias",
  "Unused2",
  "RunWithShimLayer",
  "ForceNoLinkTrack",
  "EnableTargetMetadata",
  "DisableLinkPathTracking",
  "DisableKnownFolderTracking",
  "DisableKnownFolderAlias",
  "AllowLinkToLink",
  "UnaliasOnSave",
  "PreferEnvironmentPath",
  "KeepLocalIDListForUNCTarget",
] as const;

/** FileAttributesFlags (2.1.2), bit by bit (bit 3 is reserved). */
export const FILE_ATTRIBUTES: Record<number, string> = {
  0x1: "READONLY",
  0x2: "HIDDEN",
  0x4: "SYSTEM",
  0x10: "DIRECTORY",
  0x20: "ARCHIVE",
  0x40: "DEVICE",
  0x80: "NORMAL",
  0x100: "TEMPORARY",
  0x200: "SPARSE_FILE",
  0x400: "REPARSE_POINT",
  0x800: "COMPRESSED",
  0x1000: "OFFLINE",
  0x2000: "NOT_CONTENT_INDEXED",
  0x4000: "ENCRYPTED",
};

/** ShowCommand (2.1); any other value means SW_SHOWNORMAL. */
export const SHOW_COMMANDS: Record<number, string> = {
  1: "SW_SHOWNORMAL",
  3: "SW_SHOWMAXIMIZED",
  7: "SW_SHOWMINNOACTIVE",
};

/** VolumeID DriveType (2.3.1). */
export const DRIVE_TYPES = [
  "DRIVE_UNKNOWN",
  "DRIVE_NO_ROOT_DIR",
  "DRIVE_REMOVABLE",
  "DRIVE_FIXED",
  "DRIVE_REMOTE",
  "DRIVE_CDROM",
  "DRIVE_RAMDISK",
];

/** HotKeyFlags (2.1.3) modifier bits of the high byte. */
export const HOTKEY_MODIFIERS: [number, string][] = [[0x2, "CTRL"], [0x4, "ALT"], [0x1, "SHIFT"]];

/** Known folders (KNOWNFOLDERID) that shortcuts commonly name. */
export const KNOWN_FOLDERS: Record<string, string> = {
  "B4BFCC3A-DB2C-424C-B029-7FE99A87C641": "Desktop",
  "FDD39AD0-238F-46AF-ADB4-6C85480369C7": "Documents",
  "374DE290-123F-4565-9164-39C4925E467B": "Downloads",
  "F38BF404-1D43-42F2-9305-67DE0B28FC23": "Windows",
  "1AC14E77-02E7-4E5D-B744-2EB1AE5198B7": "System",
  "D65231B0-B2F1-4857-A4CE-A8E7C6EA7D27": "SystemX86",
  "905E63B6-C1BF-494E-B29C-65B732D3D21A": "ProgramFiles",
  "7C5A40EF-A0FB-4BFC-874A-C0F2E0B9FA8E": "ProgramFilesX86",
  "F1B32785-6FBA-4FCF-9D55-7B8E7F157091": "LocalAppData",
  "3EB685DB-65F9-4CF6-A03A-E3EF65729F3D": "RoamingAppData",
  "62AB5D82-FDC1-4DC3-A9DD-070D1D495D97": "ProgramData",
  "A77F5D77-2E2B-44C3-A6A2-ABA601054A51": "Programs",
  "B97D20BB-F46A-4C97-BA10-5E3608430854": "Startup",
  "82A5EA35-D9CD-47C5-9629-E15D2F714E6E": "CommonStartup",
  "5E6C858F-0E22-4760-9AFE-EA3317B67173": "Profile",
  "0762D272-C50A-4BB0-A382-697DCD729B80": "UserProfiles",
  "DFDF76A2-C82A-4D63-906A-5644AC457385": "Public",
  "A63293E8-664E-48DB-A079-DF759E0509F7": "Templates",
  "AE50C081-EBD2-438A-8655-8A092E34987A": "Recent",
  "8983036C-27C0-404B-8F08-102D10DCFD74": "SendTo",
  "352481E8-33BE-4251-BA85-6007CAEDCF9D": "InternetCache",
  "33E28130-4E1E-4676-835A-98395C3BC3BB": "Pictures",
  "4BD8D571-6D19-48D3-BE97-422220080E43": "Music",
  "18989B1D-99B5-455B-841C-AB7C74E4DDFC": "Videos",
  "1777F761-68AD-4D8A-87BD-30B759FA33DD": "Favorites",
};

/** Shell folders a target ID list starts at (root folder items, by CLSID). */
export const SHELL_FOLDERS: Record<string, string> = {
  "20D04FE0-3AEA-1069-A2D8-08002B30309D": "My Computer",
  "450D8FBA-AD25-11D0-98A8-0800361B1103": "My Documents",
  "208D2C60-3AEA-1069-A2D7-08002B30309D": "My Network Places",
  "645FF040-5081-101B-9F08-00AA002F954E": "Recycle Bin",
  "21EC2020-3AEA-1069-A2DD-08002B30309D": "Control Panel",
  "59031A47-3F72-44A7-89C5-5595FE6B30EE": "User Files",
  "871C5380-42A0-1069-A2EA-08002B30309D": "Internet Explorer",
  "26EE0668-A00A-44D7-9371-BEB064C98683": "Control Panel",
  "F02C1A0D-BE21-4350-88B0-7367FC96EF3C": "Network",
};
