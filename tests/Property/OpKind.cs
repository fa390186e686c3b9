namespace PagedSim.Property.Tests;

/// <summary>What one generated step does to a <c>KvCacheManager</c>.</summary>
public enum OpKind
{
    Admit,
    AppendOne,
    AppendMany,
    Fork,
    Free,
}
