namespace P2V.Netboot.Dhcp;

/// <summary>The option codes we read or write: RFC 2132, RFC 4578 (PXE: 93, 94, 97), iPXE's 175.</summary>
public enum DhcpOption : byte
{
    Pad = 0,
    SubnetMask = 1,
    Router = 3,
    DomainNameServer = 6,
    HostName = 12,
    VendorSpecific = 43,
    RequestedAddress = 50,
    LeaseTime = 51,
    Overload = 52,
    MessageType = 53,
    ServerIdentifier = 54,
    ParameterRequestList = 55,
    Message = 56,
    MaxMessageSize = 57,
    RenewalTime = 58,
    RebindingTime = 59,
    VendorClass = 60,
    ClientIdentifier = 61,
    TftpServerName = 66,
    BootFileName = 67,
    UserClass = 77,
    ClientArchitecture = 93,
    ClientNetworkInterface = 94,
    ClientMachineId = 97,
    IpxeEncapsulated = 175,
    End = 255,
}

/// <summary>Option 53 values, RFC 2132 §9.6.</summary>
public enum DhcpMessageType : byte
{
    Discover = 1,
    Offer = 2,
    Request = 3,
    Decline = 4,
    Ack = 5,
    Nak = 6,
    Release = 7,
    Inform = 8,
}
