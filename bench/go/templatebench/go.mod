module templatebench

go 1.19
