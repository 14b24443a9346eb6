module example.com/libals

go 1.19
