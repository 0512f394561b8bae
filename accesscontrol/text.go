package accesscontrol

import (
	"fmt"

	"github.com/gwanje/gwanje/internal/textcheck"
)

// checkDisplayed refuses text people will read (names, titles, clauses)
// that could display as something other than it is: invalid UTF-8 or
// bidirectional formatting characters (internal/textcheck). fields are
// name, value pairs.
func checkDisplayed(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if err := textcheck.Field(fields[i], fields[i+1]); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	return nil
}
