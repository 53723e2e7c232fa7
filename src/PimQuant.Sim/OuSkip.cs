namespace PimQuant.Sim;

/// <summary>One OU of the simulator's tiling (OU row group × OU column position) as a skip policy sees it when the layer is
/// programmed: the simulator's view of a mapping's <c>OuBlock</c>, with what a skip decision needs.</summary>
/// <param name="RowGroup">OU row group.</param>
/// <param name="Ou">OU column id (column tile × OU position).</param>
/// <param name="RowStart">First matrix row.</param>
/// <param name="RowCount">Rows.</param>
/// <param name="UsedColumns">Bitlines holding weights.</param>
/// <param name="AllLevelsZero">Every intended cell level (weight slice) of the OU is 0, so skipping it is lossless
/// on an ideal device.</param>
public readonly record struct ProgrammedOu(int RowGroup, int Ou, int RowStart, int RowCount, int UsedColumns, bool AllLevelsZero);

/// <summary>Decides, when a layer is programmed, which OUs are never read (BWQ's and IVQ's skipped
/// all-zero blocks). A skipped OU costs nothing and its bitlines contribute nothing.</summary>
public interface IOuSkipPolicy
{
    /// <summary>True when <paramref name="ou"/> is never read.</summary>
    bool Skip(in ProgrammedOu ou);
}

/// <summary>Built-in OU skip policies.</summary>
public static class OuSkip
{
    /// <summary>Skip the OUs whose cells all hold level 0 (lossless on an ideal device).</summary>
    public static IOuSkipPolicy AllZero { get; } = new Predicate(ou => ou.AllLevelsZero);

    /// <summary>Skip the OUs that <paramref name="skip"/> selects.</summary>
    public static IOuSkipPolicy Where(Func<ProgrammedOu, bool> skip) => new Predicate(skip);

    private sealed class Predicate(Func<ProgrammedOu, bool> skip) : IOuSkipPolicy
    {
        public bool Skip(in ProgrammedOu ou) => skip(ou);
    }
}
