module github.com/bankabc/vouchers/services/voucher-provider

go 1.26.0

require github.com/stretchr/testify v1.12.1
