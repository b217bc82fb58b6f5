namespace P2V.Migration.Validation;

/// <summary>Error blocks the migration; warning informs of something that will not carry over; info says what will happen.</summary>
public enum Severity { Info, Warning, Error }

/// <summary>One rule's verdict on one thing: which rule, how bad, what it is about, why, and how to fix it.</summary>
public sealed record Finding(string RuleId, Severity Severity, string Subject, string Message, string Fix);
