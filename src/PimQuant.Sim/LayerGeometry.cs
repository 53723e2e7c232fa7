namespace PimQuant.Sim;

/// <summary>How one lowered layer (K rows × N logical columns, docs/hardware.md §0) sits on crossbars:
/// K is cut into row tiles of <see cref="CrossbarConfig.TileRows"/> wordlines (<c>rows</c>, or with whole-OU tiles, as the
/// slice-major layout has them, the floor(rows/ou_rows) whole OU row groups an array holds, so OU row groups are the
/// ou_rows-row weight blocks counted from row 0), each tile into OU row groups of <c>ou_rows</c>
/// consecutive rows (the last group of a tile may be short); logical columns fill column tiles, each
/// using slices × polarities bitlines, which OUs of <c>ou_cols</c> bitlines cover.
/// Physical columns are numbered layout-independently as (j·polarities + polarity)·slices + slice;
/// <see cref="OuOfColumn"/> gives the OU (in the config's column layout) that reads each of them.</summary>
public sealed class LayerGeometry
{
    private readonly int[] _groupStart, _groupRows, _groupTile, _tileFirstGroup, _ouOfColumn, _ouColumnTile, _ouUsedColumns;

    internal LayerGeometry(CrossbarConfig config, int k, int n)
    {
        K = k; N = n;
        Slices = config.Slices; Polarities = config.Polarities; Digits = config.Digits; DigitBits = config.DacBits;
        ActivationBits = config.ActivationBits;
        int tileRows = config.TileRows;
        RowTileCount = (k + tileRows - 1) / tileRows;
        var start = new List<int>(); var rows = new List<int>(); var tile = new List<int>();
        _tileFirstGroup = new int[RowTileCount + 1];
        for (int rt = 0; rt < RowTileCount; rt++)
        {
            _tileFirstGroup[rt] = start.Count;
            int tileStart = rt * tileRows, tileEnd = Math.Min(k, tileStart + tileRows);
            for (int r = tileStart; r < tileEnd; r += config.OuRows)
            {
                start.Add(r); rows.Add(Math.Min(config.OuRows, tileEnd - r)); tile.Add(rt);
            }
        }
        _tileFirstGroup[RowTileCount] = start.Count;
        (_groupStart, _groupRows, _groupTile) = (start.ToArray(), rows.ToArray(), tile.ToArray());

        int perWeight = Slices * Polarities;
        int ouCols = config.OuCols;
        LogicalColumnsPerTile = config.ColumnLayout == ColumnLayout.SliceMajor
            ? config.Cols / (perWeight * ouCols) * ouCols
            : config.Cols / perWeight;
        ColumnTileCount = (n + LogicalColumnsPerTile - 1) / LogicalColumnsPerTile;
        OusPerColumnTile = (config.Cols + ouCols - 1) / ouCols;
        PhysicalColumns = n * perWeight;
        _ouOfColumn = new int[PhysicalColumns];
        _ouColumnTile = new int[ColumnTileCount * OusPerColumnTile];
        _ouUsedColumns = new int[ColumnTileCount * OusPerColumnTile];
        for (int j = 0; j < n; j++)
        {
            int ct = j / LogicalColumnsPerTile, jl = j - ct * LogicalColumnsPerTile;
            for (int pol = 0; pol < Polarities; pol++)
                for (int s = 0; s < Slices; s++)
                {
                    int position = config.ColumnLayout == ColumnLayout.SliceMajor
                        ? jl / ouCols * (perWeight * ouCols) + (pol * Slices + s) * ouCols + jl % ouCols
                        : (jl * Polarities + pol) * Slices + s;
                    int ou = ct * OusPerColumnTile + position / ouCols;
                    _ouOfColumn[PhysicalColumn(j, pol, s)] = ou;
                    _ouColumnTile[ou] = ct;
                    _ouUsedColumns[ou]++;
                }
        }
    }

    /// <summary>The geometry of a K × N layer on <paramref name="config"/>'s crossbars (e.g. to size
    /// per-array ADC steps before programming).</summary>
    public static LayerGeometry For(CrossbarConfig config, int k, int n)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        return new LayerGeometry(config, k, n);
    }

    /// <summary>K: rows of the lowered weight matrix (im2col vector length).</summary>
    public int K { get; }
    /// <summary>N: logical (output) columns.</summary>
    public int N { get; }
    /// <summary>Slices per weight.</summary>
    public int Slices { get; }
    /// <summary>1 (offset) or 2 (differential).</summary>
    public int Polarities { get; }
    /// <summary>T: input digits per activation.</summary>
    public int Digits { get; }
    /// <summary>d: bits of one streamed digit (the DAC's resolution); digit t of a code is bits [d·t, d·t + d).</summary>
    public int DigitBits { get; }
    /// <summary>Bits of an activation code (a two's-complement code's sign is bit ActivationBits − 1).</summary>
    public int ActivationBits { get; }
    /// <summary>Crossbar row tiles.</summary>
    public int RowTileCount { get; }
    /// <summary>OU row groups over all row tiles.</summary>
    public int RowGroupCount => _groupStart.Length;
    /// <summary>First matrix row of each OU row group.</summary>
    public ReadOnlySpan<int> GroupStart => _groupStart;
    /// <summary>Rows of each OU row group (ou_rows, or fewer for the last group of a tile).</summary>
    public ReadOnlySpan<int> GroupRows => _groupRows;
    /// <summary>Row tile of each OU row group.</summary>
    public ReadOnlySpan<int> GroupTile => _groupTile;
    /// <summary>The row groups of tile rt are [TileFirstGroup[rt], TileFirstGroup[rt + 1]).</summary>
    public ReadOnlySpan<int> TileFirstGroup => _tileFirstGroup;
    /// <summary>Logical columns one column tile holds (no logical column straddles two crossbars).</summary>
    public int LogicalColumnsPerTile { get; }
    /// <summary>Crossbar column tiles.</summary>
    public int ColumnTileCount { get; }
    /// <summary>OU column positions per column tile (ceil(cols/ou_cols)); OU ids are ct·this + position.</summary>
    public int OusPerColumnTile { get; }
    /// <summary>N·slices·polarities.</summary>
    public int PhysicalColumns { get; }
    /// <summary>The OU (column tile × OU position) reading each physical column.</summary>
    public ReadOnlySpan<int> OuOfColumn => _ouOfColumn;
    /// <summary>Column tile of each OU id.</summary>
    public ReadOnlySpan<int> OuColumnTile => _ouColumnTile;
    /// <summary>Bitlines in use under each OU id (0 for positions no weight occupies).</summary>
    public ReadOnlySpan<int> OuUsedColumns => _ouUsedColumns;

    /// <summary>The layout-independent physical column number of (logical column, polarity, slice).</summary>
    public int PhysicalColumn(int j, int polarity, int slice) => (j * Polarities + polarity) * Slices + slice;

    /// <summary>Column tile of logical column j.</summary>
    public int ColumnTileOf(int j) => j / LogicalColumnsPerTile;
}
