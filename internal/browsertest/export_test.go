package browsertest

var SplitFlag = splitFlag
