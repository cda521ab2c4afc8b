package clients

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// SearchAttributes are the custom search attributes every bottomless-dr workflow sets.
var SearchAttributes = map[string]enumspb.IndexedValueType{
	"BdrDatabase": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	"BdrState":    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
}

// RegisterSearchAttributes adds the custom search attributes to the namespace; attributes that
// exist already are fine.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: SearchAttributes})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register search attributes in %s: %w", namespace, err)
	}
	return nil
}
