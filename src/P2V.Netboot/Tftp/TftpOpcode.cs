namespace P2V.Netboot.Tftp;

/// <summary>TFTP opcodes: RFC 1350 §5 (1–5) and RFC 2347 (6, OACK).</summary>
public enum TftpOpcode : ushort
{
    ReadRequest = 1,
    WriteRequest = 2,
    Data = 3,
    Ack = 4,
    Error = 5,
    OptionAck = 6,
}

/// <summary>Error codes, RFC 1350 appendix and RFC 2347 (8).</summary>
public enum TftpErrorCode : ushort
{
    NotDefined = 0,
    FileNotFound = 1,
    AccessViolation = 2,
    DiskFull = 3,
    IllegalOperation = 4,
    UnknownTransferId = 5,
    FileExists = 6,
    NoSuchUser = 7,
    OptionsRefused = 8,
}
