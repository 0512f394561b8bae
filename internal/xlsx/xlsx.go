// Package xlsx writes simple report workbooks (a title, a bold header row,
// string cells) with excelize, the writer the installation report uses:
// one mechanism for every XLSX gwanje hands out (ledgers, registers,
// reviews).
package xlsx

import (
	"fmt"
	"io"

	"github.com/xuri/excelize/v2"
)

// Sheet is one worksheet: Records[0] is the header row.
type Sheet struct {
	Name, Title string
	Records     [][]string
}

// Write writes the sheets as one workbook.
func Write(w io.Writer, sheets []Sheet) error {
	f := excelize.NewFile()
	defer f.Close()
	bold, _ := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	for i, sh := range sheets {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", sh.Name); err != nil {
				return fmt.Errorf("xlsx: %w", err)
			}
		} else if _, err := f.NewSheet(sh.Name); err != nil {
			return fmt.Errorf("xlsx: %w", err)
		}
		r0 := 1
		if sh.Title != "" {
			_ = f.SetCellValue(sh.Name, "A1", sh.Title)
			_ = f.SetCellStyle(sh.Name, "A1", "A1", bold)
			r0 = 3
		}
		for r, rec := range sh.Records {
			row := make([]any, len(rec))
			for c, v := range rec {
				row[c] = v
			}
			cell, _ := excelize.CoordinatesToCellName(1, r0+r)
			if err := f.SetSheetRow(sh.Name, cell, &row); err != nil {
				return fmt.Errorf("xlsx: %w", err)
			}
		}
		if len(sh.Records) > 0 {
			first, _ := excelize.CoordinatesToCellName(1, r0)
			last, _ := excelize.CoordinatesToCellName(len(sh.Records[0]), r0)
			_ = f.SetCellStyle(sh.Name, first, last, bold)
			lastCol, _ := excelize.ColumnNumberToName(len(sh.Records[0]))
			_ = f.SetColWidth(sh.Name, "A", lastCol, 18)
		}
	}
	if err := f.Write(w); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	return nil
}
