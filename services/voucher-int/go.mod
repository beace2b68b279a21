module github.com/bankabc/vouchers/services/voucher-int

go 1.26.0

require github.com/stretchr/testify v1.12.1
