from smyth.cli import main

main()
