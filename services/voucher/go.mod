module github.com/bankabc/vouchers/services/voucher

go 1.26.0

require github.com/stretchr/testify v1.12.1
